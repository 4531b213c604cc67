"use strict";
/* The API 3.0 protocol as the official Node.js SDK meets it (spec 1), in every request style it
 * has: its quirks (spec 1.2: scope service "127" or "localhost:PORT", host signed without the
 * port; v1 signs host:port), then each common error provoked by its real cause. A refused
 * CreateHTTPListener must change nothing: its port stays unbound.
 * Runs with the default rate limit (20/s per action per SecretId) and a 1024-byte body limit.
 */
const assert = require("node:assert/strict");
const { after, before, describe, it } = require("node:test");
const http = require("node:http");
const {
	LISTENER_ID, PROXY, RATE_ID, RATE_KEY, STYLES, UUID4, Gaapd, Origin, fails, freePort,
	gaapClient, httpRequest, ok, portAccepts, withClock, withClockOffset, withRandom,
} = require("./harness");

const T = { timeout: 30000 };
const CJK = /[\u4e00-\u9fff]/;

for (const style of STYLES) {
	describe(`protocol, ${style.name}`, () => {
		let origin, gaapd, c;
		const clientWith = (opts) => gaapClient(gaapd, style, opts);
		const createWith = async (client, name = "common") => {
			const port = await freePort();
			return { port, call: client.CreateHTTPListener({ ProxyId: PROXY, ListenerName: name, Port: port }) };
		};
		/* The create is refused with code and leaves its port unbound. */
		const refused = async (client, code) => {
			const { port, call } = await createWith(client);
			const err = await fails(call, code);
			assert.equal(await portAccepts(port), false, "a refused create bound its port");
			return err;
		};
		const created = async (client) => {
			const { port, call } = await createWith(client);
			assert.match((await ok(call)).ListenerId, LISTENER_ID);
			const r = await httpRequest(port, { path: "/common" });
			assert.equal(r.status, 200);
		};

		before(async () => {
			origin = await new Origin().start();
			gaapd = await new Gaapd({
				proxies: [{ id: PROXY, status: "RUNNING", max_listeners: 1000,
					origins: [`127.0.0.1:${origin.port}`] }],
				rateLimit: 20,
				extraControl: ["max_request_size: 1024"],
			}).start();
			c = clientWith();
		});
		after(async () => {
			try {
				await gaapd?.stop();
			} finally {
				await origin?.close();
			}
		});

		it("works at 127.0.0.1:PORT (TC3 signs host 127.0.0.1, service \"127\"; v1 signs 127.0.0.1:PORT)",
			T, async () => {
				await created(c);
			});

		it("works at localhost:PORT (TC3: scope service \"localhost:PORT\")", T, async () => {
			const agent = new http.Agent({ family: 4 });
			try {
				await created(clientWith({ endpoint: `localhost:${gaapd.port}`, agent }));
			} finally {
				agent.destroy();
			}
		});

		it("accepts a Region (GAAP needs none) and ignores it", T, async () => {
			await created(clientWith({ region: "ap-guangzhou" }));
		});

		it("accepts a clock 200 s behind or ahead", T, async () => {
			await withClockOffset(-200e3, () => created(c));
			await withClockOffset(200e3, () => created(c));
		});

		if (!style.signMethod.startsWith("TC3")) {
			it("v1: different calls with the same Nonce in the same second are all served (the SDK "
				+ "draws Nonce from 0-65535, so busy clients repeat one)", T, async () => {
				const second = Math.floor(Date.now() / 1000) * 1000;
				await withClock(() => second, () => withRandom(0.5, async () => {
					await created(c);
					await created(c);
				}));
			});

			it("v1: Nonce 0, which the SDK sends about once in 131,000 calls, is served", T, async () => {
				await withRandom(0, () => created(c));
			});
		}

		it("AuthFailure.SignatureFailure: the wrong secret key", T, async () => {
			await refused(clientWith({ secretKey: "not-the-secret-key-0123456789abcd" }),
				"AuthFailure.SignatureFailure");
		});

		it("AuthFailure.SecretIdNotFound: an unknown SecretId", T, async () => {
			await refused(clientWith({ secretId: "AKIDUNKNOWN000000000000000000000" }),
				"AuthFailure.SecretIdNotFound");
		});

		it("AuthFailure.SignatureExpire: a clock more than 300 s off, either way", T, async () => {
			await withClockOffset(-400e3, () => refused(c, "AuthFailure.SignatureExpire"));
			await withClockOffset(400e3, () => refused(c, "AuthFailure.SignatureExpire"));
		});

		it("AuthFailure.TokenFailure: a temporary-credential token where none is issued", T, async () => {
			await refused(clientWith({ token: "sts-token-that-gaapd-never-issued" }), "AuthFailure.TokenFailure");
		});

		if (style.signMethod.startsWith("TC3")) {
			it("AuthFailure.InvalidAuthorization: the SDK's skipSign (Authorization: SKIP)", T, async () => {
				const port = await freePort();
				await fails(c.request("CreateHTTPListener", { ProxyId: PROXY, ListenerName: "skip", Port: port },
					{ skipSign: true }), "AuthFailure.InvalidAuthorization");
				assert.equal(await portAccepts(port), false);
			});
		}

		it("InvalidAction: an action gaapd does not have", T, async () => {
			await fails(c.request("CreateTCPListener", { ProxyId: PROXY }), "InvalidAction");
			await fails(c.request("NoSuchAction", {}), "InvalidAction");
		});

		it("NoSuchVersion: another API version", T, async () => {
			const old = clientWith();
			old.apiVersion = "2017-03-12";
			await refused(old, "NoSuchVersion");
		});

		it("UnsupportedProtocol: a method other than GET and POST", T, async () => {
			await refused(clientWith({ reqMethod: "PUT" }), "UnsupportedProtocol");
			await refused(clientWith({ reqMethod: "DELETE" }), "UnsupportedProtocol");
		});

		it("the language picks zh-CN or en-US messages", T, async () => {
			const en = await fails(clientWith({ language: "en-US" }).request("NoSuchAction", {}), "InvalidAction");
			const zh = await fails(clientWith({ language: "zh-CN" }).request("NoSuchAction", {}), "InvalidAction");
			assert.doesNotMatch(en.message, CJK);
			assert.match(zh.message, CJK);
		});

		it("every answer has a fresh UUID v4 RequestId, errors too", T, async () => {
			const a = await fails(c.request("NoSuchAction", {}), "InvalidAction");
			const b = await fails(c.request("NoSuchAction", {}), "InvalidAction");
			assert.match(a.requestId, UUID4);
			assert.notEqual(a.requestId, b.requestId);
		});

		it("RequestLimitExceeded: past 20 calls a second per action and SecretId; refused calls change "
			+ "nothing", T, async () => {
			const rate = clientWith({ secretId: RATE_ID, secretKey: RATE_KEY });
			const calls = await Promise.all(Array.from({ length: 30 }, () => createWith(rate, "rate")));
			const results = await Promise.allSettled(calls.map((x) => x.call));
			const refusedPorts = [], acceptedPorts = [];
			results.forEach((r, i) => {
				if (r.status === "fulfilled") {
					acceptedPorts.push(calls[i].port);
				} else {
					assert.equal(r.reason.code, "RequestLimitExceeded", r.reason.message);
					refusedPorts.push(calls[i].port);
				}
			});
			assert.ok(acceptedPorts.length >= 20, `${acceptedPorts.length} of 30 accepted`);
			assert.ok(refusedPorts.length >= 1, "none was refused");
			for (const port of acceptedPorts)
				assert.ok(await portAccepts(port), `accepted port ${port} is not bound`);
			for (const port of refusedPorts)
				assert.equal(await portAccepts(port), false, `refused port ${port} is bound`);
			// another SecretId has its own budget
			await created(c);
		});

		if (style.reqMethod === "POST") {
			it("RequestSizeLimitExceeded: a body over control.max_request_size", T, async () => {
				const port = await freePort();
				await fails(c.CreateHTTPListener({ ProxyId: PROXY, ListenerName: "x".repeat(4096), Port: port }),
					"RequestSizeLimitExceeded");
				assert.equal(await portAccepts(port), false);
				await created(c);   // the next call on a new connection is served
			});
		}
	});
}
