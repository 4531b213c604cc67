"use strict";
/* Discovery through the official Node.js SDK, in every request style it has: DescribeProxies
 * (spec 2.9) and DescribeProxyGroupList list the proxies and groups of gaapd's configuration with
 * their status; filters, paging and each error path.
 */
const assert = require("node:assert/strict");
const { after, before, describe, it } = require("node:test");
const { PROXY, STYLES, Gaapd, fails, gaapClient, ok } = require("./harness");

const T = { timeout: 30000 };
const GROUP = "lg-qz6ntod5";
const CLOSED_GROUP = "lg-closed01";
const ORIGIN = ["127.0.0.1:1"];
const CONFIG = {
	proxies: [
		{ id: PROXY, status: "RUNNING", origins: ORIGIN },
		{ id: "link-closed01", status: "CLOSED", origins: ORIGIN },
		{ id: "link-grpa0001", bind: "127.0.0.2", origins: ORIGIN },
		{ id: "link-grpb0001", bind: "127.0.0.3", origins: ORIGIN },
		{ id: "link-grpc0001", bind: "127.0.0.4", origins: ORIGIN },
	],
	groups: [
		{ id: GROUP, status: "RUNNING", proxies: ["link-grpa0001", "link-grpb0001"] },
		{ id: CLOSED_GROUP, status: "CLOSED", proxies: ["link-grpc0001"] },
	],
};
const ALL = CONFIG.proxies.map((p) => p.id).sort();
const UNGROUPED = [PROXY, "link-closed01"].sort();
const GROUPED = ["link-grpa0001", "link-grpb0001", "link-grpc0001"];
const PROXY_STATES = ["RUNNING", "CREATING", "DESTROYING", "OPENING", "CLOSING", "CLOSED", "ADJUSTING",
	"ISOLATING", "ISOLATED", "CLONING", "RECOVERING", "MOVING"];
const GROUP_STATES = ["RUNNING", "CREATING", "DESTROYING", "MOVING", "CLOSED", "CHANGING"];

for (const style of STYLES) {
	describe(`proxies and groups, ${style.name}`, () => {
		let gaapd, c;
		const proxyIds = async (params) => {
			const r = await ok(c.DescribeProxies(params));
			assert.ok(Number.isInteger(r.TotalCount), "TotalCount is a number");
			assert.ok(Array.isArray(r.ProxySet), "ProxySet is a list");
			return r.ProxySet.map((p) => p.ProxyId).sort();
		};

		before(async () => {
			gaapd = await new Gaapd(CONFIG).start();
			c = gaapClient(gaapd, style);
		});
		after(async () => {
			await gaapd?.stop();
		});

		describe("DescribeProxies", () => {
			it("lists every configured proxy with its status and group", T, async () => {
				const r = await ok(c.DescribeProxies({}));
				assert.equal(r.TotalCount, ALL.length);
				assert.deepEqual(r.ProxySet.map((p) => p.ProxyId).sort(), ALL);
				const by = Object.fromEntries(r.ProxySet.map((p) => [p.ProxyId, p]));
				for (const p of r.ProxySet) {
					assert.match(p.ProxyId, /^link-[0-9a-z]+$/);
					assert.ok(PROXY_STATES.includes(p.Status), `Status ${p.Status}`);
				}
				assert.equal(by[PROXY].Status, "RUNNING");
				assert.equal(by["link-closed01"].Status, "CLOSED");
				assert.equal(by["link-grpa0001"].Status, "RUNNING");
				for (const id of GROUPED)
					assert.equal(by[id].GroupId, id === "link-grpc0001" ? CLOSED_GROUP : GROUP);
			});

			it("ProxyIds and the old InstanceIds select proxies; unknown ids match nothing", T, async () => {
				assert.deepEqual(await proxyIds({ ProxyIds: [PROXY, "link-closed01"] }), UNGROUPED);
				assert.deepEqual(await proxyIds({ InstanceIds: [PROXY] }), [PROXY]);
				assert.deepEqual(await proxyIds({ ProxyIds: ["link-zzzzzzzz"] }), []);
			});

			it("Independent 1 lists ungrouped proxies, 0 grouped ones", T, async () => {
				assert.deepEqual(await proxyIds({ Independent: 1 }), UNGROUPED);
				assert.deepEqual(await proxyIds({ Independent: 0 }), GROUPED);
			});

			it("Filters by GroupId", T, async () => {
				assert.deepEqual(await proxyIds({ Filters: [{ Name: "GroupId", Values: [GROUP] }] }),
					["link-grpa0001", "link-grpb0001"]);
			});

			it("pages with Offset and Limit; TotalCount counts every match", T, async () => {
				const p1 = await ok(c.DescribeProxies({ Offset: 0, Limit: 3 }));
				const p2 = await ok(c.DescribeProxies({ Offset: 3, Limit: 3 }));
				assert.deepEqual([p1.TotalCount, p2.TotalCount], [ALL.length, ALL.length]);
				assert.deepEqual([p1.ProxySet.length, p2.ProxySet.length], [3, ALL.length - 3]);
				assert.deepEqual([...p1.ProxySet, ...p2.ProxySet].map((p) => p.ProxyId).sort(), ALL);
			});

			it("InvalidParameter: a Limit that is not a number", T, async () => {
				await fails(c.DescribeProxies({ Limit: "many" }), "InvalidParameter");
			});

			it("InvalidParameter: InstanceIds with Filters", T, async () => {
				await fails(c.DescribeProxies({ InstanceIds: [PROXY],
					Filters: [{ Name: "GroupId", Values: [GROUP] }] }), "InvalidParameter");
			});

			it("InvalidParameterValue: Limit over 100", T, async () => {
				await fails(c.DescribeProxies({ Limit: 101 }), "InvalidParameterValue");
			});

			it("UnknownParameter", T, async () => {
				await fails(c.DescribeProxies({ Colour: "blue" }), "UnknownParameter");
			});
		});

		describe("DescribeProxyGroupList", () => {
			const ALL_PROJECTS = { Offset: 0, Limit: 20, ProjectId: -1 };

			it("lists every configured group with its status", T, async () => {
				const r = await ok(c.DescribeProxyGroupList(ALL_PROJECTS));
				assert.deepEqual(Object.keys(r).sort(), ["ProxyGroupList", "RequestId", "TotalCount"]);
				assert.equal(r.TotalCount, 2);
				const by = Object.fromEntries(r.ProxyGroupList.map((g) => [g.GroupId, g]));
				assert.deepEqual(Object.keys(by).sort(), [CLOSED_GROUP, GROUP]);
				for (const g of r.ProxyGroupList)
					assert.ok(GROUP_STATES.includes(g.Status), `Status ${g.Status}`);
				assert.equal(by[GROUP].Status, "RUNNING");
				assert.equal(by[CLOSED_GROUP].Status, "CLOSED");
			});

			it("pages with Offset and Limit", T, async () => {
				const p1 = await ok(c.DescribeProxyGroupList({ ...ALL_PROJECTS, Limit: 1 }));
				const p2 = await ok(c.DescribeProxyGroupList({ ...ALL_PROJECTS, Offset: 1, Limit: 1 }));
				assert.deepEqual([p1.TotalCount, p2.TotalCount], [2, 2]);
				assert.deepEqual([...p1.ProxyGroupList, ...p2.ProxyGroupList].map((g) => g.GroupId).sort(),
					[CLOSED_GROUP, GROUP]);
			});

			it("MissingParameter: ProjectId, Offset or Limit absent (all three are required)", T, async () => {
				for (const key of Object.keys(ALL_PROJECTS)) {
					const params = { ...ALL_PROJECTS };
					delete params[key];
					await fails(c.DescribeProxyGroupList(params), "MissingParameter");
				}
			});

			it("InvalidParameter: a Limit that is not a number", T, async () => {
				await fails(c.DescribeProxyGroupList({ ...ALL_PROJECTS, Limit: "many" }), "InvalidParameter");
			});

			it("InvalidParameterValue: Limit over 100", T, async () => {
				await fails(c.DescribeProxyGroupList({ ...ALL_PROJECTS, Limit: 101 }), "InvalidParameterValue");
			});

			it("UnknownParameter", T, async () => {
				await fails(c.DescribeProxyGroupList({ ...ALL_PROJECTS, Colour: "blue" }), "UnknownParameter");
			});
		});
	});
}
