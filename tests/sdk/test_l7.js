"use strict";
/* Domains, rules, bindings and custom headers through the official Node.js SDK, in every request
 * style it has (l7-and-https.md §3-5): CreateDomain, ModifyDomain, DeleteDomain, DescribeRules,
 * CreateRule, ModifyRuleAttribute, DeleteRule, DescribeRulesByRuleIds, BindRuleRealServers,
 * DescribeRuleRealServers, CreateCustomHeader, DescribeCustomHeader with the SDK's own request
 * models (nested objects and lists of objects flatten in GET/form styles), every answer checked
 * against the SDK's response models, and their documented errors.
 */
const assert = require("node:assert/strict");
const { after, before, describe, it } = require("node:test");
const { LIMITED_ID, LIMITED_KEY, PROXY, STYLES, Gaapd, fails, freePort, gaapClient, ok } =
	require("./harness");

const T = { timeout: 60000 };
const RULE_ID = /^rule-[0-9a-z]{8}$/;

STYLES.forEach((style, n) => {
	describe(`layer 7, ${style.name}`, () => {
		let gaapd, c, limited, lid;
		const ip = (i) => `10.${n}.1.${i}`;

		before(async () => {
			gaapd = await new Gaapd({ proxies: [{ id: PROXY, origins: ["127.0.0.1:1"] }] }).start();
			c = gaapClient(gaapd, style);
			limited = gaapClient(gaapd, style, { secretId: LIMITED_ID, secretKey: LIMITED_KEY });
			lid = (await ok(c.CreateHTTPListener({ ProxyId: PROXY, ListenerName: `l7-${n}`,
				Port: await freePort() }))).ListenerId;
		});
		after(async () => {
			await gaapd?.stop();
		});

		it("creates, describes, modifies and deletes domains, rules, bindings and headers", T,
			async () => {
				await ok(c.CreateDomain({ ListenerId: lid, Domain: "www.example.com",
					IsDefaultServer: true }));
				await ok(c.CreateDomain({ ListenerId: lid, Domain: "old.example",
					CertificateId: "default", PolyClientCertificateIds: ["default"] }));
				await ok(c.ModifyDomain({ ListenerId: lid, OldDomain: "old.example",
					NewDomain: "new.example", CertificateId: "default",
					PolyClientCertificateIds: ["default"], IsDefaultServer: false }));

				const { RuleId: rule } = await ok(c.CreateRule({ ListenerId: lid,
					Domain: "www.example.com", Path: "/api", RealServerType: "IP", Scheduler: "wrr",
					HealthCheck: 1, CheckParams: { DelayLoop: 10, ConnectTimeout: 3, Path: "/health",
						Method: "GET", StatusCode: [200, 300], FailedCountInter: 60,
						FailedThreshold: 5, BlockInter: 600 },
					ForwardProtocol: "HTTP", ForwardHost: "origin.example",
					ServerNameIndicationSwitch: "OFF", ServerNameIndication: "",
					ForcedRedirect: "https:" }));
				assert.match(rule, RULE_ID);
				await ok(c.ModifyRuleAttribute({ ListenerId: lid, RuleId: rule, Scheduler: "lc",
					CheckParams: { Path: "/check_path" }, ForcedRedirect: "" }));

				const rs = (await ok(c.AddRealServers({ ProjectId: 0, RealServerIP: [ip(1), ip(2)],
					RealServerName: "origin" }))).RealServerSet.map((r) => r.RealServerId);
				await ok(c.BindRuleRealServers({ RuleId: rule, RealServerBindSet: [
					{ RealServerId: rs[0], RealServerIP: ip(1), RealServerPort: 80, RealServerWeight: 5 },
					{ RealServerId: rs[1], RealServerIP: ip(2), RealServerPort: 8080,
						RealServerFailoverRole: "" }] }));
				await ok(c.CreateCustomHeader({ RuleId: rule, Headers: [
					{ HeaderName: "X-REAL_IP", HeaderValue: "$remote_addr" },
					{ HeaderName: "X-Via", HeaderValue: "gaap" }] }));

				const all = await ok(c.DescribeRules({ ListenerId: lid }));
				assert.equal(all.TotalCount, 2);
				assert.deepEqual(all.DomainRuleSet.map((d) => [d.Domain, d.IsDefaultServer]),
					[["www.example.com", true], ["new.example", false]]);
				const info = all.DomainRuleSet[0].RuleSet[0];
				assert.equal(info.RuleId, rule);
				assert.equal(info.Scheduler, "lc");
				assert.equal(info.ForcedRedirect, null);
				assert.deepEqual(info.CheckParams, { DelayLoop: 10, ConnectTimeout: 3,
					Path: "/check_path", Method: "GET", StatusCode: [200, 300],
					Domain: "www.example.com", FailedCountInter: 60, FailedThreshold: 5,
					BlockInter: 600 });
				assert.deepEqual(info.RealServerSet.map((b) => [b.RealServerId, b.RealServerPort,
					b.RealServerWeight, b.RealServerStatus]), [[rs[0], 80, 5, 0], [rs[1], 8080, 1, 0]]);

				const byIds = await ok(c.DescribeRulesByRuleIds({ RuleIds: [rule, "rule-nosuch00"] }));
				assert.equal(byIds.TotalCount, 1);
				assert.deepEqual(byIds.RuleSet[0], info);
				const bindable = await ok(c.DescribeRuleRealServers({ RuleId: rule, Offset: 0, Limit: 50 }));
				assert.equal(bindable.TotalCount, 2);
				assert.equal(bindable.BindRealServerTotalCount, 2);
				const headers = await ok(c.DescribeCustomHeader({ RuleId: rule }));
				assert.deepEqual(headers.Headers.map((h) => h.HeaderName), ["X-REAL_IP", "X-Via"]);
				const status = await ok(c.DescribeRealServersStatus({ RealServerIds: rs }));
				assert.deepEqual(status.RealServerStatusSet.map((s) => s.BindStatus), [1, 1]);

				// the Go SDK's way of saying [] is to leave the list out: both remove all
				await ok(c.CreateCustomHeader({ RuleId: rule }));
				assert.deepEqual((await ok(c.DescribeCustomHeader({ RuleId: rule }))).Headers, []);
				await fails(c.DeleteRule({ ListenerId: lid, RuleId: rule, Force: 0 }),
					"FailedOperation.RealServerAlreadyBound");
				await ok(c.BindRuleRealServers({ RuleId: rule, RealServerBindSet: [] }));
				await ok(c.DeleteRule({ ListenerId: lid, RuleId: rule, Force: 0 }));
				await ok(c.DeleteDomain({ ListenerId: lid, Domain: "new.example", Force: 0 }));
				await ok(c.RemoveRealServers({ RealServerIds: rs }));
				const left = await ok(c.DescribeRules({ ListenerId: lid }));
				assert.deepEqual(left.DomainRuleSet.map((d) => [d.Domain, d.RuleSet.length]),
					[["www.example.com", 0]]);
			});

		it("answers the documented errors", T, async () => {
			await ok(c.CreateDomain({ ListenerId: lid, Domain: "err.example" }));
			await fails(c.CreateDomain({ ListenerId: lid, Domain: "ERR.example" }),
				"FailedOperation.DomainAlreadyExisted");
			await fails(c.CreateDomain({ ListenerId: lid, Domain: "*.example" }), "InvalidParameterValue");
			await fails(c.CreateDomain({ ListenerId: "listener-nosuch00", Domain: "a.example" }),
				"ResourceNotFound");
			await fails(c.ModifyDomain({ ListenerId: lid, OldDomain: "gone.example", NewDomain: "x.example" }),
				"ResourceNotFound");
			const rule = (await ok(c.CreateRule({ ListenerId: lid, Domain: "err.example", Path: "/",
				RealServerType: "IP", Scheduler: "rr", HealthCheck: 0 }))).RuleId;
			await fails(c.CreateRule({ ListenerId: lid, Domain: "err.example", Path: "/",
				RealServerType: "IP", Scheduler: "rr", HealthCheck: 0 }), "FailedOperation.RuleAlreadyExisted");
			await fails(c.CreateRule({ ListenerId: lid, Domain: "err.example", Path: "/x",
				RealServerType: "IP", Scheduler: "rr", HealthCheck: 0, ServerNameIndicationSwitch: "ON" }),
			"MissingParameter");
			await fails(c.CreateRule({ ListenerId: lid, Domain: "err.example", Path: "/x",
				RealServerType: "IP", Scheduler: "rr", HealthCheck: 0,
				CheckParams: { DelayLoop: 5, ConnectTimeout: 6, Path: "/", Method: "HEAD", StatusCode: [200] } }),
			"InvalidParameterValue");
			await fails(c.ModifyRuleAttribute({ ListenerId: lid, RuleId: "rule-nosuch00" }), "ResourceNotFound");
			const rs = (await ok(c.AddRealServers({ ProjectId: 0, RealServerIP: [ip(9)],
				RealServerName: "e" }))).RealServerSet[0].RealServerId;
			await fails(c.BindRuleRealServers({ RuleId: rule, RealServerBindSet: [
				{ RealServerId: rs, RealServerIP: ip(9), RealServerPort: 80 },
				{ RealServerId: "rs-nosuch00", RealServerIP: "1.1.1.1", RealServerPort: 80 }] }),
			"InvalidParameterValue.RealServerNotBelong");
			assert.equal((await ok(c.DescribeRuleRealServers({ RuleId: rule }))).BindRealServerTotalCount, 0);
			await fails(c.CreateCustomHeader({ RuleId: rule, Headers: [{ HeaderName: "Host", HeaderValue: "x" }] }),
				"InvalidParameterValue.HitBlacklist");
			await fails(c.DescribeCustomHeader({ RuleId: "rule-nosuch00" }), "InvalidParameterValue");
			await fails(c.DescribeRules({ ListenerId: lid }).then(() => limited.DescribeRules({ ListenerId: lid })),
				"UnauthorizedOperation");
			await fails(limited.BindRuleRealServers({ RuleId: rule }), "UnauthorizedOperation");
			await fails(c.DeleteDomain({ ListenerId: lid, Domain: "err.example", Force: 2 }),
				"InvalidParameterValue");
			await ok(c.DeleteDomain({ ListenerId: lid, Domain: "err.example", Force: 1 }));
			await fails(c.DescribeRulesByRuleIds({ RuleIds: [] }), "InvalidParameterValue");
		});
	});
});
