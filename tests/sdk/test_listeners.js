"use strict";
/* The HTTP listener lifecycle (spec 2.2, 2.4-2.6) through the official Node.js SDK, in every
 * request style it has: CreateHTTPListener, DescribeHTTPListeners, ModifyHTTPListenerAttribute and
 * DeleteListeners, each answer's shape and types, each documented error provoked by its real
 * cause, and the listeners' ports serving (or no longer serving) proxied traffic.
 * One gaapd per style, so the styles cannot disturb each other's counts.
 */
const assert = require("node:assert/strict");
const { after, before, describe, it } = require("node:test");
const http = require("node:http");
const {
	LIMITED_ID, LIMITED_KEY, LISTENER_ID, PROXY, STYLES, Gaapd, Origin, fails, freePort, gaapClient,
	httpRequest, listen, ok, portAccepts, sleep,
} = require("./harness");

const T = { timeout: 30000 };
const GROUP = "lg-qz6ntod5";            // members link-grpa0001 (127.0.0.2), link-grpb0001 (127.0.0.3)
const CLOSED_GROUP = "lg-closed01";
const RESERVED_PORT = 9999;
const MEMBER_HOSTS = ["127.0.0.2", "127.0.0.3"];

function config(origin) {
	const o = [`127.0.0.1:${origin.port}`];
	return {
		proxies: [
			{ id: PROXY, status: "RUNNING", max_listeners: 1000, origins: o },
			{ id: "link-page0001", status: "RUNNING", origins: o },
			{ id: "link-other001", status: "RUNNING", origins: o },
			{ id: "link-full0001", status: "RUNNING", max_listeners: 1, origins: o },
			{ id: "link-closed01", status: "CLOSED", origins: o },
			{ id: "link-grpa0001", bind: "127.0.0.2", origins: o },
			{ id: "link-grpb0001", bind: "127.0.0.3", origins: o },
			{ id: "link-grpc0001", bind: "127.0.0.4", origins: o },
		],
		groups: [
			{ id: GROUP, status: "RUNNING", proxies: ["link-grpa0001", "link-grpb0001"] },
			{ id: CLOSED_GROUP, status: "CLOSED", proxies: ["link-grpc0001"] },
		],
		extraControl: [`reserved_ports: [${RESERVED_PORT}]`],
		extraHttp: ["drain_timeout: 10000"],
	};
}

const HTTP_LISTENER_FIELDS = ["CreateTime", "GroupId", "ListenerId", "ListenerName", "ListenerStatus",
	"Port", "Protocol", "ProxyId"];

/* One HTTPListener item of DescribeHTTPListeners: exact fields and types (spec 2.4). */
function checkListener(item, want) {
	assert.deepEqual(Object.keys(item).sort(), HTTP_LISTENER_FIELDS);
	assert.match(item.ListenerId, LISTENER_ID);
	assert.equal(typeof item.ListenerName, "string");
	assert.ok(Number.isInteger(item.Port), `Port ${JSON.stringify(item.Port)} is a number`);
	assert.ok(Number.isInteger(item.CreateTime), "CreateTime is a number");
	assert.ok(Math.abs(item.CreateTime - Date.now() / 1000) < 600, "CreateTime is Unix seconds, now");
	assert.equal(item.Protocol, "HTTP");
	assert.equal(item.ListenerStatus, 0);
	for (const [k, v] of Object.entries(want))
		assert.deepEqual(item[k], v, k);
}

async function reachesOrigin(origin, port, host = "127.0.0.1") {
	const target = `/via-${host}-${port}?q=1`;
	const r = await httpRequest(port, { host, path: target });
	assert.equal(r.status, 200, r.body);
	assert.equal(JSON.parse(r.body).path, target);
	const seen = origin.requests.find((q) => q.path === target);
	assert.ok(seen, "the origin saw the request");
	assert.match(seen.headers["x-forwarded-for"], /127\.0\.0\.1/);
}

for (const style of STYLES) {
	describe(`listeners, ${style.name}`, () => {
		let origin, gaapd, c, limited;
		const create = (params) => c.CreateHTTPListener({ ProxyId: PROXY, ...params });
		const newListener = async (params = {}) => {
			const port = params.Port ?? await freePort();
			const r = await ok(create({ ListenerName: "sdk-listener", Port: port, ...params }));
			return { id: r.ListenerId, port };
		};
		const describeOne = async (id) => {
			const r = await ok(c.DescribeHTTPListeners({ ListenerId: id }));
			assert.equal(r.TotalCount, 1);
			return r.ListenerSet[0];
		};

		before(async () => {
			origin = await new Origin().start();
			gaapd = await new Gaapd(config(origin)).start();
			c = gaapClient(gaapd, style);
			limited = gaapClient(gaapd, style, { secretId: LIMITED_ID, secretKey: LIMITED_KEY });
		});
		after(async () => {
			try {
				await gaapd?.stop();
			} finally {
				await origin?.close();
			}
		});

		describe("CreateHTTPListener", () => {
			it("answers the published shape, and the new port serves at once", T, async () => {
				const port = await freePort();
				const r = await ok(create({ ListenerName: "listener-1", Port: port }));
				assert.deepEqual(Object.keys(r).sort(), ["ListenerId", "RequestId"]);
				assert.match(r.ListenerId, LISTENER_ID);
				await reachesOrigin(origin, port);
			});

			it("takes Port as a decimal string, as the documented example sends it", T, async () => {
				const port = await freePort();
				const r = await ok(create({ ListenerName: "string-port", Port: String(port) }));
				assert.match(r.ListenerId, LISTENER_ID);
				assert.ok(await portAccepts(port));
			});

			it("gives each call a fresh RequestId and ListenerId", T, async () => {
				const a = await ok(create({ ListenerName: "a", Port: await freePort() }));
				const b = await ok(create({ ListenerName: "b", Port: await freePort() }));
				assert.notEqual(a.RequestId, b.RequestId);
				assert.notEqual(a.ListenerId, b.ListenerId);
			});

			it("takes names in other scripts up to 30 characters", T, async () => {
				await newListener({ ListenerName: "监听器-" + "a".repeat(26) });
			});

			it("with GroupId, creates the listener on every member proxy", T, async () => {
				const port = await freePort();
				const r = await ok(c.CreateHTTPListener({ GroupId: GROUP, ListenerName: "grp", Port: port }));
				assert.match(r.ListenerId, LISTENER_ID);
				for (const host of MEMBER_HOSTS)
					await reachesOrigin(origin, port, host);
			});

			it("with GroupId, creates on no member when one cannot take the port", T, async () => {
				const holder = http.createServer();
				const port = await listen(holder, MEMBER_HOSTS[1]);
				try {
					await fails(c.CreateHTTPListener({ GroupId: GROUP, ListenerName: "grp", Port: port }),
						"InvalidParameterValue.InvalidListenerPort");
					assert.equal(await portAccepts(port, MEMBER_HOSTS[0]), false,
						"the other member did not keep the port");
				} finally {
					holder.close();
				}
			});

			it("MissingParameter: ListenerName, Port, or both ProxyId and GroupId absent", T, async () => {
				await fails(create({ Port: await freePort() }), "MissingParameter");
				await fails(create({ ListenerName: "a" }), "MissingParameter");
				await fails(c.CreateHTTPListener({ ListenerName: "a", Port: await freePort() }),
					"MissingParameter");
			});

			it("InvalidParameter: a Port that is not a number; ProxyId with GroupId", T, async () => {
				await fails(create({ ListenerName: "a", Port: "80a" }), "InvalidParameter");
				await fails(create({ ListenerName: "a", Port: "-1" }), "InvalidParameter");
				await fails(create({ ListenerName: "a", Port: await freePort(), GroupId: GROUP }),
					"InvalidParameter");
			});

			if (style.json) {
				it("InvalidParameter: JSON values of the wrong type", T, async () => {
					for (const port of [true, 80.5, [80], { p: 80 }])
						await fails(create({ ListenerName: "a", Port: port }), "InvalidParameter");
					await fails(create({ ListenerName: 5, Port: await freePort() }), "InvalidParameter");
				});
			}

			it("InvalidParameterValue: bad ListenerName, malformed ProxyId", T, async () => {
				for (const name of ["a".repeat(31), "has space", "semi;colon"])
					await fails(create({ ListenerName: name, Port: await freePort() }),
						"InvalidParameterValue");
				await fails(c.CreateHTTPListener({ ProxyId: "link-BAD!", ListenerName: "a",
					Port: await freePort() }), "InvalidParameterValue");
			});

			it("InvalidListenerPort: out of range, reserved, the control port, held by another socket",
				T, async () => {
					for (const port of [0, 65536, RESERVED_PORT, gaapd.port])
						await fails(create({ ListenerName: "a", Port: port }),
							"InvalidParameterValue.InvalidListenerPort");
					const holder = http.createServer();
					const port = await listen(holder);
					try {
						await fails(create({ ListenerName: "a", Port: port }),
							"InvalidParameterValue.InvalidListenerPort");
					} finally {
						holder.close();
					}
				});

			it("DuplicatedListenerPort: the port already has a listener on this proxy", T, async () => {
				const { port } = await newListener();
				await fails(create({ ListenerName: "again", Port: port }),
					"InvalidParameterValue.DuplicatedListenerPort");
			});

			it("FailedOperation.LimitNumofListener: the proxy is full", T, async () => {
				await newListener({ ProxyId: "link-full0001" });
				await fails(create({ ProxyId: "link-full0001", ListenerName: "a", Port: await freePort() }),
					"FailedOperation.LimitNumofListener");
			});

			it("FailedOperation.ProxyStatusNotInRuning: the proxy is not RUNNING", T, async () => {
				await fails(create({ ProxyId: "link-closed01", ListenerName: "a", Port: await freePort() }),
					"FailedOperation.ProxyStatusNotInRuning");
			});

			it("FailedOperation.GroupStatusNotInRuning: the group is not RUNNING", T, async () => {
				const port = await freePort();
				await fails(c.CreateHTTPListener({ GroupId: CLOSED_GROUP, ListenerName: "a", Port: port }),
					"FailedOperation.GroupStatusNotInRuning");
				assert.equal(await portAccepts(port, "127.0.0.4"), false);
			});

			it("FailedOperation.NotSupportProxyGroup: a group's member or a group id as ProxyId",
				T, async () => {
					await fails(create({ ProxyId: "link-grpa0001", ListenerName: "a", Port: await freePort() }),
						"FailedOperation.NotSupportProxyGroup");
					await fails(create({ ProxyId: GROUP, ListenerName: "a", Port: await freePort() }),
						"FailedOperation.NotSupportProxyGroup");
				});

			it("ResourceNotFound: no such proxy or group", T, async () => {
				await fails(create({ ProxyId: "link-zzzzzzzz", ListenerName: "a", Port: await freePort() }),
					"ResourceNotFound");
				await fails(c.CreateHTTPListener({ GroupId: "lg-zzzzzzzz", ListenerName: "a",
					Port: await freePort() }), "ResourceNotFound");
			});

			it("UnauthorizedOperation: the key may not manage this proxy", T, async () => {
				const port = await freePort();
				await fails(limited.CreateHTTPListener({ ProxyId: PROXY, ListenerName: "a", Port: port }),
					"UnauthorizedOperation");
				assert.equal(await portAccepts(port), false);
				await ok(limited.CreateHTTPListener({ ProxyId: "link-other001", ListenerName: "mine",
					Port: await freePort() }));
			});

			it("UnknownParameter", T, async () => {
				await fails(create({ ListenerName: "a", Port: await freePort(), Colour: "blue" }),
					"UnknownParameter");
			});
		});

		describe("DescribeHTTPListeners", () => {
			const PAGE = "link-page0001";
			const made = [];            // [{ id, port, name }] on PAGE
			before(async () => {
				for (const name of ["page-a", "page-b", "search-me"]) {
					const l = await newListener({ ProxyId: PAGE, ListenerName: name });
					made.push({ ...l, name });
				}
			});

			it("by ProxyId: every listener, the HTTPListener model with exact types", T, async () => {
				const r = await ok(c.DescribeHTTPListeners({ ProxyId: PAGE }));
				assert.deepEqual(Object.keys(r).sort(), ["ListenerSet", "RequestId", "TotalCount"]);
				assert.equal(r.TotalCount, 3);
				assert.deepEqual(r.ListenerSet.map((l) => l.ListenerId).sort(), made.map((l) => l.id).sort());
				for (const m of made)
					checkListener(r.ListenerSet.find((l) => l.ListenerId === m.id),
						{ ListenerName: m.name, Port: m.port, ProxyId: PAGE, GroupId: null });
			});

			it("by ListenerId alone, and with its ProxyId", T, async () => {
				const [a] = made;
				checkListener(await describeOne(a.id), { ListenerId: a.id, ProxyId: PAGE });
				const r = await ok(c.DescribeHTTPListeners({ ProxyId: PAGE, ListenerId: a.id }));
				assert.deepEqual([r.TotalCount, r.ListenerSet.map((l) => l.ListenerId)], [1, [a.id]]);
			});

			it("ListenerName and Port match exactly; SearchValue is fuzzy on name or port", T, async () => {
				const [a, b, s] = made;
				const ids = async (params) => (await ok(c.DescribeHTTPListeners({ ProxyId: PAGE, ...params })))
					.ListenerSet.map((l) => l.ListenerId).sort();
				assert.deepEqual(await ids({ ListenerName: "page-a" }), [a.id]);
				assert.deepEqual(await ids({ ListenerName: "page" }), []);
				assert.deepEqual(await ids({ Port: b.port }), [b.id]);
				assert.deepEqual(await ids({ SearchValue: "earch" }), [s.id]);
				assert.deepEqual(await ids({ SearchValue: "page-" }), [a.id, b.id].sort());
				assert.deepEqual(await ids({ SearchValue: String(a.port) }), [a.id]);
			});

			it("pages with Offset and Limit; TotalCount counts every match", T, async () => {
				const page = (Offset, Limit) => ok(c.DescribeHTTPListeners({ ProxyId: PAGE, Offset, Limit }));
				const p1 = await page(0, 2), p2 = await page(2, 2), p3 = await page(3, 2);
				assert.deepEqual([p1.TotalCount, p2.TotalCount, p3.TotalCount], [3, 3, 3]);
				assert.deepEqual([p1.ListenerSet.length, p2.ListenerSet.length, p3.ListenerSet.length],
					[2, 1, 0]);
				assert.deepEqual([...p1.ListenerSet, ...p2.ListenerSet].map((l) => l.ListenerId).sort(),
					made.map((l) => l.id).sort());
			});

			it("a listener of a group: GroupId set, ProxyId null", T, async () => {
				const port = await freePort();
				const { ListenerId } = await ok(c.CreateHTTPListener({ GroupId: GROUP, ListenerName: "g",
					Port: port }));
				const r = await ok(c.DescribeHTTPListeners({ GroupId: GROUP, ListenerId }));
				assert.equal(r.TotalCount, 1);
				checkListener(r.ListenerSet[0], { ListenerId, Port: port, GroupId: GROUP, ProxyId: null });
			});

			it("a ListenerId that does not exist on that proxy matches nothing", T, async () => {
				const r = await ok(c.DescribeHTTPListeners({ ProxyId: PAGE, ListenerId: "listener-zzzzzzzz" }));
				assert.deepEqual([r.TotalCount, r.ListenerSet], [0, []]);
			});

			it("MissingParameter: none of ListenerId, ProxyId, GroupId", T, async () => {
				await fails(c.DescribeHTTPListeners({}), "MissingParameter");
				await fails(c.DescribeHTTPListeners({ ListenerName: "page-a" }), "MissingParameter");
			});

			it("InvalidParameter: ProxyId with GroupId, SearchValue with ListenerName, a bad Limit",
				T, async () => {
					await fails(c.DescribeHTTPListeners({ ProxyId: PAGE, GroupId: GROUP }), "InvalidParameter");
					await fails(c.DescribeHTTPListeners({ ProxyId: PAGE, SearchValue: "a", ListenerName: "a" }),
						"InvalidParameter");
					await fails(c.DescribeHTTPListeners({ ProxyId: PAGE, Limit: "many" }), "InvalidParameter");
				});

			it("ResourceNotFound: no such proxy or group", T, async () => {
				await fails(c.DescribeHTTPListeners({ ProxyId: "link-zzzzzzzz" }), "ResourceNotFound");
				await fails(c.DescribeHTTPListeners({ GroupId: "lg-zzzzzzzz" }), "ResourceNotFound");
			});

			it("UnauthorizedOperation: the key may not manage this proxy", T, async () => {
				await fails(limited.DescribeHTTPListeners({ ProxyId: PAGE }), "UnauthorizedOperation");
			});

			it("UnknownParameter", T, async () => {
				await fails(c.DescribeHTTPListeners({ ProxyId: PAGE, Colour: "blue" }), "UnknownParameter");
			});
		});

		describe("ModifyHTTPListenerAttribute", () => {
			it("renames the listener; nothing else changes and the port keeps serving", T, async () => {
				const l = await newListener({ ListenerName: "before-rename" });
				const before = await describeOne(l.id);
				const r = await ok(c.ModifyHTTPListenerAttribute({ ListenerId: l.id, ListenerName: "after-rename" }));
				assert.deepEqual(Object.keys(r), ["RequestId"]);
				const now = await describeOne(l.id);
				assert.deepEqual(now, { ...before, ListenerName: "after-rename" });
				await reachesOrigin(origin, l.port);
				await ok(c.ModifyHTTPListenerAttribute({ ListenerId: l.id, ProxyId: PROXY, ListenerName: "third" }));
				assert.equal((await describeOne(l.id)).ListenerName, "third");
			});

			it("MissingParameter: ListenerId or ListenerName absent", T, async () => {
				const l = await newListener();
				await fails(c.ModifyHTTPListenerAttribute({ ListenerName: "x" }), "MissingParameter");
				await fails(c.ModifyHTTPListenerAttribute({ ListenerId: l.id }), "MissingParameter");
			});

			it("InvalidParameterValue: a bad new name", T, async () => {
				const l = await newListener();
				await fails(c.ModifyHTTPListenerAttribute({ ListenerId: l.id, ListenerName: "a".repeat(31) }),
					"InvalidParameterValue");
				await fails(c.ModifyHTTPListenerAttribute({ ListenerId: l.id, ListenerName: "bad name" }),
					"InvalidParameterValue");
				assert.equal((await describeOne(l.id)).ListenerName, "sdk-listener");
			});

			it("ResourceNotFound: no such listener, or not on the given proxy", T, async () => {
				for (const id of ["listener-zzzzzzzz", "listener-BAD!"])
					await fails(c.ModifyHTTPListenerAttribute({ ListenerId: id, ListenerName: "x" }),
						"ResourceNotFound");
				const l = await newListener();
				await fails(c.ModifyHTTPListenerAttribute({ ListenerId: l.id, ProxyId: "link-other001",
					ListenerName: "x" }), "ResourceNotFound");
			});

			it("FailedOperation.NotSupportProxyGroup: a listener of a proxy group", T, async () => {
				const { ListenerId } = await ok(c.CreateHTTPListener({ GroupId: GROUP, ListenerName: "g",
					Port: await freePort() }));
				await fails(c.ModifyHTTPListenerAttribute({ ListenerId, ListenerName: "x" }),
					"FailedOperation.NotSupportProxyGroup");
			});

			it("UnauthorizedOperation: the key may not manage the listener's proxy", T, async () => {
				const l = await newListener();
				await fails(limited.ModifyHTTPListenerAttribute({ ListenerId: l.id, ListenerName: "x" }),
					"UnauthorizedOperation");
			});

			it("UnknownParameter", T, async () => {
				const l = await newListener();
				await fails(c.ModifyHTTPListenerAttribute({ ListenerId: l.id, ListenerName: "x", Port: 1 }),
					"UnknownParameter");
			});
		});

		describe("DeleteListeners", () => {
			const sets = (r) => [r.OperationSucceedListenerSet, r.OperationFailedListenerSet,
				r.InvalidStatusListenerSet].map((s) => [...s].sort());
			const gone = async (id) => {
				const r = await ok(c.DescribeHTTPListeners({ ProxyId: PROXY, ListenerId: id }));
				assert.equal(r.TotalCount, 0, `${id} is still described`);
			};

			it("deletes a batch; the ports stop accepting at once; unknown ids are reported", T, async () => {
				const a = await newListener(), b = await newListener();
				const r = await ok(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id, b.id,
					"listener-zzzzzzzz"], Force: 1 }));
				assert.deepEqual(Object.keys(r).sort(), ["InvalidStatusListenerSet",
					"OperationFailedListenerSet", "OperationSucceedListenerSet", "RequestId"]);
				assert.deepEqual(sets(r), [[a.id, b.id].sort(), [], ["listener-zzzzzzzz"]]);
				for (const l of [a, b]) {
					assert.equal(await portAccepts(l.port), false, `port ${l.port} still accepts`);
					await gone(l.id);
				}
			});

			it("Force 0 deletes a listener with no origins bound through the API", T, async () => {
				const a = await newListener();
				const r = await ok(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id], Force: 0 }));
				assert.deepEqual(sets(r), [[a.id], [], []]);
				assert.equal(await portAccepts(a.port), false);
			});

			it("a listener of another proxy, or one already deleted, is in InvalidStatusListenerSet",
				T, async () => {
					const other = await newListener({ ProxyId: "link-other001" });
					const a = await newListener();
					await ok(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id], Force: 1 }));
					const r = await ok(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id, other.id], Force: 1 }));
					assert.deepEqual(sets(r), [[], [], [a.id, other.id].sort()]);
					await reachesOrigin(origin, other.port);
				});

			it("the port can take a new listener once deleted", T, async () => {
				const a = await newListener();
				await ok(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id], Force: 1 }));
				const b = await newListener({ Port: a.port });
				assert.notEqual(b.id, a.id);
				await reachesOrigin(origin, a.port);
			});

			it("a request in flight on a deleted listener completes", T, async () => {
				const a = await newListener();
				const target = `/slow?ms=800&port=${a.port}`;
				const inFlight = httpRequest(a.port, { path: target });
				for (let i = 0; i < 500 && !origin.requests.some((q) => q.path === target); i++)
					await sleep(10);
				assert.ok(origin.requests.some((q) => q.path === target), "the request reached the origin");
				const r = await ok(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id], Force: 1 }));
				assert.deepEqual(sets(r)[0], [a.id]);
				assert.equal(await portAccepts(a.port), false, "no new connection after the delete");
				const answer = await inFlight;
				assert.equal(answer.status, 200);
				assert.equal(JSON.parse(answer.body).path, target);
			});

			it("with GroupId, deletes the listener from every member proxy", T, async () => {
				const port = await freePort();
				const { ListenerId } = await ok(c.CreateHTTPListener({ GroupId: GROUP, ListenerName: "g", Port: port }));
				const r = await ok(c.DeleteListeners({ GroupId: GROUP, ListenerIds: [ListenerId], Force: 1 }));
				assert.deepEqual(sets(r), [[ListenerId], [], []]);
				for (const host of MEMBER_HOSTS)
					assert.equal(await portAccepts(port, host), false, `${host}:${port} still accepts`);
			});

			it("MissingParameter: ListenerIds, Force, or both ProxyId and GroupId absent", T, async () => {
				const a = await newListener();
				await fails(c.DeleteListeners({ ProxyId: PROXY, Force: 1 }), "MissingParameter");
				await fails(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id] }), "MissingParameter");
				await fails(c.DeleteListeners({ ListenerIds: [a.id], Force: 1 }), "MissingParameter");
				assert.ok(await portAccepts(a.port));
			});

			it("InvalidParameter: a Force that is not a number; ProxyId with GroupId", T, async () => {
				const a = await newListener();
				await fails(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id], Force: "yes" }),
					"InvalidParameter");
				await fails(c.DeleteListeners({ ProxyId: PROXY, GroupId: GROUP, ListenerIds: [a.id], Force: 1 }),
					"InvalidParameter");
				assert.ok(await portAccepts(a.port));
			});

			if (style.json) {
				it("InvalidParameter: ListenerIds not an array of strings", T, async () => {
					const a = await newListener();
					await fails(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: a.id, Force: 1 }),
						"InvalidParameter");
					await fails(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [1], Force: 1 }),
						"InvalidParameter");
					assert.ok(await portAccepts(a.port));
				});
			}

			it("InvalidParameterValue: Force other than 0 or 1", T, async () => {
				const a = await newListener();
				await fails(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id], Force: 2 }),
					"InvalidParameterValue");
				assert.ok(await portAccepts(a.port));
			});

			it("ResourceNotFound: no such proxy or group", T, async () => {
				await fails(c.DeleteListeners({ ProxyId: "link-zzzzzzzz", ListenerIds: ["listener-zzzzzzzz"],
					Force: 1 }), "ResourceNotFound");
				await fails(c.DeleteListeners({ GroupId: "lg-zzzzzzzz", ListenerIds: ["listener-zzzzzzzz"],
					Force: 1 }), "ResourceNotFound");
			});

			it("UnauthorizedOperation: the key may not manage this proxy", T, async () => {
				const a = await newListener();
				await fails(limited.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id], Force: 1 }),
					"UnauthorizedOperation");
				assert.ok(await portAccepts(a.port));
			});

			it("UnknownParameter", T, async () => {
				const a = await newListener();
				await fails(c.DeleteListeners({ ProxyId: PROXY, ListenerIds: [a.id], Force: 1, Colour: "x" }),
					"UnknownParameter");
				assert.ok(await portAccepts(a.port));
			});
		});
	});
}
