"use strict";
/* The SDK tests' harness: the real gaapd binary on loopback, a test origin in this process, and
 * GaapClient instances of the official Node.js SDK (tencentcloud-sdk-nodejs, pinned in
 * package-lock.json) pointed at gaapd in each request style of spec 1.1.
 * Everything binds 127.0.0.x on ports the kernel picks; every wait is bounded.
 * The process shape follows tests/e2e/harness.py (config, credentials file, "gaapd started" line).
 */
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

// The SDK sends every request through an HTTP proxy when http_proxy is set (common/http/fetch.js).
delete process.env.http_proxy;
delete process.env.HTTP_PROXY;

const tencentcloud = require("tencentcloud-sdk-nodejs");
const GaapClient = tencentcloud.gaap.v20180529.Client;

const GAAPD = process.env.GAAPD;
const SECRET_ID = "AKIDSDKTESTKEY000000000000000000";
const SECRET_KEY = "sdktestsecretkey0123456789abcdef";
const LIMITED_ID = "AKIDSDKLIMITEDKEY00000000000000";   // may manage link-other001 only
const LIMITED_KEY = "sdklimitedsecretkey0123456789abc";
const RATE_ID = "AKIDSDKRATEKEY0000000000000000000";    // rate-limit tests: buckets of its own
const RATE_KEY = "sdkratesecretkey0123456789abcdefg";
const PROXY = "link-cuxw2rm0";
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const LISTENER_ID = /^listener-[0-9a-z]{8}$/;
const CALL_MS = 15000;      // bound on any single call or wait

/* The request styles of spec 1.1 that the SDK can produce. */
const STYLES = [
	{ name: "TC3 POST JSON", signMethod: "TC3-HMAC-SHA256", reqMethod: "POST", json: true },
	{ name: "TC3 GET query", signMethod: "TC3-HMAC-SHA256", reqMethod: "GET" },
	{ name: "v1 HmacSHA1 GET query", signMethod: "HmacSHA1", reqMethod: "GET" },
	{ name: "v1 HmacSHA1 POST form", signMethod: "HmacSHA1", reqMethod: "POST" },
	{ name: "v1 HmacSHA256 GET query", signMethod: "HmacSHA256", reqMethod: "GET" },
	{ name: "v1 HmacSHA256 POST form", signMethod: "HmacSHA256", reqMethod: "POST" },
];

/* Settles like p, or rejects after ms. */
function bounded(p, ms = CALL_MS, what = "operation") {
	let timer;
	const limit = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
	});
	return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function listen(server, host = "127.0.0.1", port = 0) {
	return bounded(new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, host, () => {
			server.off("error", reject);
			resolve(server.address().port);
		});
	}), CALL_MS, "listen");
}

/* Listener ports come from below the kernel's ephemeral range (as in tests/e2e/harness.py): a port
 * the kernel hands out as free may become some connection's local port a moment later. Each test
 * process walks its own stretch of 10000..(ephemeral low). */
const portWindow = (() => {
	const low = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0]);
	const size = Math.max(1000, low - 10000);
	return { base: 10000, size, next: Math.floor(Math.random() * size) };
})();

/* A port free on 127.0.0.1 now, below the ephemeral range, not handed out before by this process. */
async function freePort() {
	for (let i = 0; i < portWindow.size; i++) {
		const port = portWindow.base + portWindow.next;
		portWindow.next = (portWindow.next + 1) % portWindow.size;
		const s = net.createServer();
		try {
			await listen(s, "127.0.0.1", port);
		} catch {
			continue;
		}
		await new Promise((resolve) => s.close(resolve));
		return port;
	}
	throw new Error("no free port below the ephemeral range");
}

/* Whether host:port accepts a TCP connection. */
function portAccepts(port, host = "127.0.0.1") {
	return new Promise((resolve) => {
		const sock = net.connect({ port, host });
		sock.setTimeout(3000, () => { sock.destroy(); resolve(false); });
		sock.once("connect", () => { sock.destroy(); resolve(true); });
		sock.once("error", () => resolve(false));
	});
}

/* One HTTP/1.1 request on a fresh connection: { status, headers, body (string) }. */
function httpRequest(port, { host = "127.0.0.1", path: target = "/", method = "GET", body, headers = {},
	timeout = CALL_MS } = {}) {
	return bounded(new Promise((resolve, reject) => {
		const req = http.request({ host, port, path: target, method, headers, agent: false, timeout },
			(res) => {
				const chunks = [];
				res.on("data", (c) => chunks.push(c));
				res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
					body: Buffer.concat(chunks).toString() }));
				res.on("error", reject);
			});
		req.on("timeout", () => req.destroy(new Error("request timed out")));
		req.on("error", reject);
		req.end(body);
	}), timeout + 1000, `${method} ${host}:${port}${target}`);
}

/* An HTTP origin that echoes each request as JSON; /slow?ms=N answers after N ms. */
class Origin {
	constructor() {
		this.requests = [];
		this.server = http.createServer((req, res) => {
			const chunks = [];
			req.on("data", (c) => chunks.push(c));
			req.on("end", () => {
				const seen = { method: req.method, path: req.url, headers: req.headers,
					body: Buffer.concat(chunks).toString() };
				this.requests.push(seen);
				const out = JSON.stringify(seen);
				const answer = () => {
					res.writeHead(200, { "Content-Type": "application/json",
						"Content-Length": Buffer.byteLength(out) });
					res.end(out);
				};
				const m = /^\/slow\?ms=(\d+)/.exec(req.url);
				m ? setTimeout(answer, Number(m[1])) : answer();
			});
		});
	}

	async start() {
		this.port = await listen(this.server);
		return this;
	}

	close() {
		this.server.closeAllConnections();
		return bounded(new Promise((resolve) => this.server.close(resolve)), CALL_MS, "origin close");
	}
}

/* gaapd.yaml text; proxies: [{id, status, bind, max_listeners, origins}], groups: [{id, status,
 * proxies}]. Same shape as tests/e2e/harness.py's yaml_config. */
function yamlConfig({ proxies, groups = [], rateLimit = 1000000, extraControl = [], extraHttp = [] }) {
	const lines = ["node:", "  workers: 2", "  state_dir: state", "  log_level: info", "control:",
		"  listen: 127.0.0.1:0", "  auth: signature", "  credentials_file: credentials",
		`  rate_limit: ${rateLimit}`, ...extraControl.map((l) => "  " + l)];
	if (extraHttp.length)
		lines.push("http:", ...extraHttp.map((l) => "  " + l));
	lines.push(proxies.length ? "proxies:" : "proxies: []");
	for (const p of proxies) {
		lines.push(`  - id: ${p.id}`);
		for (const key of ["status", "bind", "max_listeners"])
			if (p[key] !== undefined)
				lines.push(`    ${key}: ${p[key]}`);
		lines.push(`    origins: [${p.origins.join(", ")}]`);
	}
	if (groups.length) {
		lines.push("groups:");
		for (const g of groups) {
			lines.push(`  - id: ${g.id}`);
			if (g.status)
				lines.push(`    status: ${g.status}`);
			lines.push(`    proxies: [${g.proxies.join(", ")}]`);
		}
	}
	return lines.join("\n") + "\n";
}

/* One gaapd process with its own directory (config, credentials, state, log). */
class Gaapd {
	constructor(config) {
		if (!GAAPD)
			throw new Error("GAAPD is not set: run this test through ctest (tests/cmake/sdk.cmake), "
				+ "or set GAAPD=/path/to/gaapd");
		this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "gaapd-sdk-"));
		this.conf = path.join(this.dir, "gaapd.yaml");
		this.logPath = path.join(this.dir, "gaapd.log");
		fs.writeFileSync(this.conf, yamlConfig(config));
		fs.writeFileSync(path.join(this.dir, "credentials"),
			`[default]\nsecret_id = ${SECRET_ID}\nsecret_key = ${SECRET_KEY}\n\n`
			+ `[limited]\nsecret_id = ${LIMITED_ID}\nsecret_key = ${LIMITED_KEY}\n`
			+ "proxies = link-other001\n\n"
			+ `[rate]\nsecret_id = ${RATE_ID}\nsecret_key = ${RATE_KEY}\n`, { mode: 0o600 });
	}

	log() {
		return fs.existsSync(this.logPath) ? fs.readFileSync(this.logPath, "latin1") : "";
	}

	async start() {
		const fd = fs.openSync(this.logPath, "a");
		this.proc = spawn(GAAPD, ["-c", this.conf], { stdio: ["ignore", fd, fd] });
		fs.closeSync(fd);
		this.exited = new Promise((resolve) => this.proc.once("exit", (code, signal) =>
			resolve({ code, signal })));
		this.proc.once("error", () => {});
		const orphan = () => this.proc.kill("SIGKILL");
		process.once("exit", orphan);
		this.exited.then(() => process.off("exit", orphan));
		const deadline = Date.now() + 10000;
		while (Date.now() < deadline) {
			const m = /gaapd started .* port=(\d+)/.exec(this.log());
			if (m) {
				this.port = Number(m[1]);
				return this;
			}
			if (this.proc.exitCode !== null || this.proc.signalCode !== null)
				throw new Error(`gaapd exited (${this.proc.exitCode ?? this.proc.signalCode}):\n${this.log()}`);
			await sleep(20);
		}
		this.proc.kill("SIGKILL");
		throw new Error("gaapd did not start in 10 s:\n" + this.log());
	}

	/* SIGTERM; it must exit 0 (under ASan: no leaks) and have logged no error line. */
	async stop() {
		if (!this.proc)
			return;
		this.proc.kill("SIGTERM");
		let result;
		try {
			result = await bounded(this.exited, 20000, "gaapd stop on SIGTERM");
		} catch (e) {
			this.proc.kill("SIGKILL");
			throw new Error(`${e.message}:\n${this.log()}`);
		}
		const log = this.log();
		assert.deepEqual(result, { code: 0, signal: null }, `gaapd exit status:\n${log}`);
		const errors = log.split("\n").filter((l) => l.startsWith("<3>"));
		assert.deepEqual(errors, [], "error lines in the gaapd log");
		fs.rmSync(this.dir, { recursive: true, force: true });
	}
}

/* The SDK's own data model (gaap_models.d.ts): { Interface: { Field: { type, nullable } } }, where
 * nullable means the field's documentation says it may be null. */
function loadModels() {
	const dir = path.dirname(require.resolve("tencentcloud-sdk-nodejs/package.json"));
	const text = fs.readFileSync(path.join(dir, "tencentcloud/services/gaap/v20180529/gaap_models.d.ts"), "utf8");
	const models = {};
	for (const m of text.matchAll(/^export interface (\w+) \{\n([\s\S]*?)^\}/gm)) {
		const fields = {};
		let doc = "";
		for (const line of m[2].split("\n")) {
			const f = /^ {4}(\w+)\??: (.+);$/.exec(line);
			if (f) {
				fields[f[1]] = { type: f[2], nullable: /null/.test(doc) };
				doc = "";
			} else {
				doc += line;
			}
		}
		models[m[1]] = fields;
	}
	return models;
}
const MODELS = loadModels();

/* Fields the contract answers with null although the SDK's documentation does not say they may be
 * (l7-and-https.md §4.5: an HTTP listener's domain has no certificates and no advanced
 * authentication; a rule without ForcedRedirect shows null, as Tencent's own example does; and
 * the certificates' and HTTPS listeners' below). */
const SPEC_NULLS = new Set([
	...["CertificateId", "CertificateAlias", "ClientCertificateId", "ClientCertificateAlias",
		"BasicAuthConfId", "BasicAuthConfAlias", "RealServerCertificateId", "RealServerCertificateAlias",
		"GaapCertificateId", "GaapCertificateAlias", "RealServerCertificateDomain"]
		.map((f) => `DomainRuleSet.${f}`),
	"RuleInfo.ForcedRedirect",
	/* §7.2, §7.3: X.509 members of a basic-auth certificate (type 0), CN members of a name without
	 * CN, the key (never shown); §6.2: client CA members of an AuthType 0 listener */
	...["BeginTime", "EndTime", "IssuerCN", "SubjectCN"].flatMap((f) =>
		[`Certificate.${f}`, `CertificateDetail.${f}`]),
	"CertificateDetail.CertificateKey",
	...["ClientCertificateId", "ClientCertificateAlias", "PolyClientCertificateAliasInfo"]
		.map((f) => `HTTPSListener.${f}`),
]);

function checkType(value, type, where, nullable) {
	const item = /^Array<(.+)>$/.exec(type);
	if (value === null) {
		assert.ok(nullable, `${where} is null; the SDK model does not say it may be`);
	} else if (type === "number" || type === "number | bigint") {
		assert.ok(Number.isFinite(value), `${where} = ${JSON.stringify(value)} is not a number`);
	} else if (type === "string" || type === "boolean") {
		assert.ok(typeof value === type, `${where} = ${JSON.stringify(value)} is not a ${type}`);
	} else if (item) {
		assert.ok(Array.isArray(value), `${where} is not a list`);
		value.forEach((v, i) => checkType(v, item[1], `${where}[${i}]`, false));
	} else if (MODELS[type]) {
		checkModel(value, type, where);
	} else {
		assert.fail(`${where}: no check for the model type ${type}`);
	}
}

/* obj has only fields of the SDK's model `name`, each of its type (numbers as numbers, ...). */
function checkModel(obj, name, where = name) {
	const fields = MODELS[name];
	assert.ok(fields, `no model ${name} in the SDK`);
	assert.ok(obj !== null && typeof obj === "object" && !Array.isArray(obj), `${where} is not an object`);
	for (const [k, v] of Object.entries(obj)) {
		assert.ok(k in fields, `${where}.${k} is not a field of the SDK model ${name}`);
		checkType(v, fields[k].type, `${where}.${k}`, fields[k].nullable || SPEC_NULLS.has(`${name}.${k}`));
	}
}

/* A GaapClient of the official SDK, as a user would configure it for this endpoint. Every
 * successful answer is checked against the SDK's model of that action's response. */
function gaapClient(gaapd, style, { secretId = SECRET_ID, secretKey = SECRET_KEY, token, endpoint,
	language, region, agent, reqMethod } = {}) {
	const client = new GaapClient({
		credential: { secretId, secretKey, token },
		region,
		profile: {
			signMethod: style.signMethod,
			language,
			httpProfile: {
				endpoint: endpoint || `127.0.0.1:${gaapd.port}`,
				protocol: "http://",
				reqMethod: reqMethod || style.reqMethod,
				reqTimeout: CALL_MS / 1000,
				agent,
			},
		},
	});
	const request = client.request.bind(client);
	client.request = async (action, ...rest) => {
		const resp = await request(action, ...rest);
		checkModel(resp, `${action}Response`, action);
		return resp;
	};
	return client;
}

/* A successful answer: the SDK's Response object, checked for a fresh-looking RequestId. */
async function ok(promise) {
	let resp;
	try {
		resp = await bounded(promise);
	} catch (e) {
		if (e instanceof assert.AssertionError || e.code === undefined)
			throw e;
		throw new assert.AssertionError({ message: `expected success, got ${e.code}: ${e.message}` });
	}
	assert.match(resp.RequestId, UUID4);
	return resp;
}

/* The call fails with the API error `code` (exactly), carried by the SDK's exception. */
async function fails(promise, code) {
	let err;
	try {
		const resp = await bounded(promise);
		assert.fail(`expected ${code}, got success ${JSON.stringify(resp)}`);
	} catch (e) {
		if (e instanceof assert.AssertionError)
			throw e;
		err = e;
	}
	assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
	assert.match(err.requestId, UUID4, "the error carries a RequestId");
	return err;
}

/* Runs fn with the process clock reading now() (ms): the SDK reads Date for its timestamps. */
async function withClock(now, fn) {
	const RealDate = Date;
	class StubbedDate extends RealDate {
		constructor(...args) {
			if (args.length)
				super(...args);
			else
				super(now());
		}

		static now() {
			return now();
		}
	}
	globalThis.Date = StubbedDate;
	try {
		return await fn();
	} finally {
		globalThis.Date = RealDate;
	}
}

/* Runs fn with the process clock shifted by ms. */
function withClockOffset(ms, fn) {
	const realNow = Date.now;
	return withClock(() => realNow() + ms, fn);
}

/* Runs fn with Math.random() always returning value: the SDK draws the v1 Nonce from it. */
async function withRandom(value, fn) {
	const real = Math.random;
	Math.random = () => value;
	try {
		return await fn();
	} finally {
		Math.random = real;
	}
}

module.exports = {
	CALL_MS, GAAPD, LIMITED_ID, LIMITED_KEY, LISTENER_ID, PROXY, RATE_ID, RATE_KEY, SECRET_ID, SECRET_KEY,
	STYLES, UUID4,
	Gaapd, Origin, bounded, checkModel, fails, freePort, gaapClient, httpRequest, listen, ok, portAccepts, sleep,
	withClock, withClockOffset, withRandom,
};
