"use strict";
/* Real servers through the official Node.js SDK, in every request style it has: AddRealServers,
 * DescribeRealServers, ModifyRealServerName, DescribeRealServersStatus and RemoveRealServers
 * (l7-and-https.md §2) with the SDK's own models, and their documented errors.
 */
const assert = require("node:assert/strict");
const { after, before, describe, it } = require("node:test");
const { PROXY, STYLES, Gaapd, fails, gaapClient, ok } = require("./harness");

const T = { timeout: 30000 };
const RS_ID = /^rs-[0-9a-z]{8}$/;

STYLES.forEach((style, n) => {
	describe(`real servers, ${style.name}`, () => {
		let gaapd, c;
		const ip = (i) => `10.${n}.0.${i}`;     // each style its own addresses

		before(async () => {
			gaapd = await new Gaapd({ proxies: [{ id: PROXY, origins: ["127.0.0.1:1"] }] }).start();
			c = gaapClient(gaapd, style);
		});
		after(async () => {
			await gaapd?.stop();
		});

		it("adds, lists, renames, reports and removes", T, async () => {
			const added = await ok(c.AddRealServers({ ProjectId: 0, RealServerIP: [ip(1), `h${n}.example`],
				RealServerName: "origin-1", TagSet: [{ TagKey: "env", TagValue: "prod" }] }));
			assert.deepEqual(added.RealServerSet.map((r) => r.RealServerIP), [ip(1), `h${n}.example`]);
			const ids = added.RealServerSet.map((r) => r.RealServerId);
			ids.forEach((id) => assert.match(id, RS_ID));

			const listed = await ok(c.DescribeRealServers({ ProjectId: -1, Limit: 50 }));
			assert.equal(listed.TotalCount, 2);
			assert.deepEqual(listed.RealServerSet[0], { RealServerIP: ip(1), RealServerId: ids[0],
				RealServerName: "origin-1", ProjectId: 0, TagSet: [{ TagKey: "env", TagValue: "prod" }] });
			const found = await ok(c.DescribeRealServers({ ProjectId: -1,
				Filters: [{ Name: "RealServerIP", Values: [`h${n}.example`] }] }));
			assert.deepEqual(found.RealServerSet.map((r) => r.RealServerId), [ids[1]]);

			await ok(c.ModifyRealServerName({ RealServerId: ids[1], RealServerName: "renamed" }));
			const status = await ok(c.DescribeRealServersStatus({ RealServerIds: ids }));
			assert.equal(status.TotalCount, 2);
			assert.deepEqual(status.RealServerStatusSet.map((s) => [s.RealServerId, s.BindStatus]),
				[[ids[0], 0], [ids[1], 0]]);

			await ok(c.RemoveRealServers({ RealServerIds: ids }));
			assert.equal((await ok(c.DescribeRealServers({ ProjectId: -1 }))).TotalCount, 0);
		});

		it("answers the documented errors", T, async () => {
			await ok(c.AddRealServers({ ProjectId: 0, RealServerIP: [ip(9)], RealServerName: "a" }));
			await fails(c.AddRealServers({ ProjectId: 0, RealServerIP: [ip(9)], RealServerName: "b" }),
				"InvalidParameterValue.DuplicateRS");
			await fails(c.AddRealServers({ ProjectId: 0, RealServerIP: ["bad_host"], RealServerName: "b" }),
				"InvalidParameterValue");
			await fails(c.AddRealServers({ ProjectId: 0, RealServerIP: [ip(8)], RealServerName: "b",
				TagSet: [{ TagKey: "", TagValue: "v" }] }), "InvalidParameterValue.InvalidTags");
			await fails(c.DescribeRealServers({ ProjectId: -2 }), "InvalidParameterValue");
			await fails(c.RemoveRealServers({ RealServerIds: ["rs-nosuch00"] }), "ResourceNotFound");
			await fails(c.DescribeRealServersStatus({ RealServerIds: ["rs-nosuch00"] }), "ResourceNotFound");
			await fails(c.ModifyRealServerName({ RealServerId: "rs-nosuch00", RealServerName: "x" }),
				"InvalidParameterValue");
		});
	});
});
