"use strict";
/* Certificates and HTTPS listeners through the official Node.js SDK, in every request style it has
 * (l7-and-https.md §6, §7): CreateCertificate, DescribeCertificates, DescribeCertificateDetail,
 * ModifyCertificateAttributes, ModifyCertificate, DeleteCertificate, CreateHTTPSListener,
 * DescribeHTTPSListeners, ModifyHTTPSListenerAttribute, SetTlsVersion with the SDK's own request
 * models, every answer checked against the SDK's response models, and their documented errors.
 * Certificates come from the openssl CLI; a TLS handshake checks what a listener presents.
 */
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const tls = require("node:tls");
const { after, before, describe, it } = require("node:test");
const { PROXY, STYLES, Gaapd, fails, freePort, gaapClient, ok } = require("./harness");

const T = { timeout: 60000 };
const CERT_ID = /^cert-[0-9a-z]{8}$/;

/* ca, www (leaf of ca for www.example.com), other (leaf of ca for other.example), cca (a client
 * CA); PEM text by file name. */
function makeCerts() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gaapd-sdk-tls-"));
	const run = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
	const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
	run("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Root");
	run("req", "-x509", ...ec, "-keyout", "cca.key", "-out", "cca.pem", "-days", "2",
		"-subj", "/CN=Client CA");
	for (const [name, san] of [["www", "DNS:www.example.com"], ["other", "DNS:other.example"]]) {
		run("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
		fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
		run("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key",
			"-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
	}
	const pem = {};
	for (const f of fs.readdirSync(dir))
		if (/\.(pem|key)$/.test(f))
			pem[f] = fs.readFileSync(path.join(dir, f), "utf8");
	fs.rmSync(dir, { recursive: true, force: true });
	return pem;
}

/* The leaf the listener on port presents for servername (undefined: no SNI), as PEM-less DER. */
function presented(port, servername) {
	return new Promise((resolve, reject) => {
		const s = tls.connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false },
			() => {
				const raw = s.getPeerCertificate().raw;
				s.end();
				resolve(raw);
			});
		s.setTimeout(10000, () => s.destroy(new Error("handshake timed out")));
		s.on("error", reject);
	});
}

function der(pemText) {
	const b64 = pemText.split("-----END CERTIFICATE-----")[0].replace(/-----BEGIN CERTIFICATE-----/, "")
		.replace(/\s+/g, "");
	return Buffer.from(b64, "base64");
}

const PEM = makeCerts();

STYLES.forEach((style, n) => {
	describe(`HTTPS, ${style.name}`, () => {
		let gaapd, c;

		before(async () => {
			gaapd = await new Gaapd({ proxies: [{ id: PROXY, origins: ["127.0.0.1:1"] }] }).start();
			c = gaapClient(gaapd, style);
		});
		after(async () => {
			const log = gaapd?.log() ?? "";
			assert.ok(!log.includes("PRIVATE KEY"), "a key in the log");
			assert.ok(!log.includes(PEM["www.key"].split("\n")[1]), "a key in the log");
			await gaapd?.stop();
		});

		it("creates, lists, details, renames and deletes certificates, keys never shown", T,
			async () => {
				const { CertificateId: id } = await ok(c.CreateCertificate({ CertificateType: 2,
					CertificateContent: PEM["www.pem"], CertificateKey: PEM["www.key"],
					CertificateAlias: `site-${n}` }));
				assert.match(id, CERT_ID);
				const { CertificateId: ca } = await ok(c.CreateCertificate({ CertificateType: 1,
					CertificateContent: encodeURIComponent(PEM["cca.pem"]) }));
				const { CertificateId: basic } = await ok(c.CreateCertificate({ CertificateType: 0,
					CertificateContent: "alice:$apr1$x$y" }));
				const list = await ok(c.DescribeCertificates({ Limit: 100 }));
				assert.equal(list.TotalCount, 3);
				assert.deepEqual(list.CertificateSet.map((x) => [x.CertificateId, x.CertificateType,
					x.SubjectCN]), [[id, 2, "www"], [ca, 1, "Client CA"], [basic, 0, null]]);
				const only = await ok(c.DescribeCertificates({ CertificateType: 1 }));
				assert.deepEqual(only.CertificateSet.map((x) => x.CertificateId), [ca]);
				const detail = (await ok(c.DescribeCertificateDetail({ CertificateId: id })))
					.CertificateDetail;
				assert.equal(detail.CertificateContent, PEM["www.pem"]);
				assert.equal(detail.CertificateKey, null);
				assert.equal(detail.IssuerCN, "Root");
				await ok(c.ModifyCertificateAttributes({ CertificateId: id, CertificateAlias: "x" }));
				assert.equal((await ok(c.DescribeCertificateDetail({ CertificateId: id })))
					.CertificateDetail.CertificateAlias, "x");
				await ok(c.DeleteCertificate({ CertificateId: basic }));
				await ok(c.DeleteCertificate({ CertificateId: ca }));
				await ok(c.DeleteCertificate({ CertificateId: id }));
			});

		it("answers the certificates' documented errors", T, async () => {
			await fails(c.CreateCertificate({ CertificateType: 2, CertificateContent: "nope",
				CertificateKey: PEM["www.key"] }), "InvalidParameterValue.InvalidCertificateContent");
			await fails(c.CreateCertificate({ CertificateType: 2, CertificateContent: PEM["www.pem"] }),
				"InvalidParameterValue.InvalidCertificateKey");
			await fails(c.CreateCertificate({ CertificateType: 2, CertificateContent: PEM["www.pem"],
				CertificateKey: PEM["ca.key"] }), "InvalidParameterValue.CertificateContentNotMatchKey");
			await fails(c.CreateCertificate({ CertificateType: 7, CertificateContent: PEM["ca.pem"] }),
				"InvalidParameterValue");
			const err = await fails(c.DescribeCertificateDetail({ CertificateId: "cert-nosuch00" }),
				"ResourceNotFound");
			assert.equal(err.message, "CertificateId not found");
			await fails(c.DeleteCertificate({ CertificateId: "cert-nosuch00" }), "ResourceNotFound");
			await fails(c.ModifyCertificateAttributes({ CertificateId: "cert-nosuch00",
				CertificateAlias: "a" }), "ResourceNotFound");
			assert.equal((await ok(c.DescribeCertificates({}))).TotalCount, 0);
		});

		it("creates, describes and changes HTTPS listeners and their domains' certificates", T,
			async () => {
				const cert = async (name, alias) => (await ok(c.CreateCertificate({
					CertificateType: 2, CertificateContent: PEM[`${name}.pem`],
					CertificateKey: PEM[`${name}.key`], CertificateAlias: alias }))).CertificateId;
				const www = await cert("www", "www");
				const other = await cert("other", "other");
				const { CertificateId: ca } = await ok(c.CreateCertificate({ CertificateType: 1,
					CertificateContent: PEM["cca.pem"], CertificateAlias: "cca" }));
				const port = await freePort();
				const { ListenerId: lid } = await ok(c.CreateHTTPSListener({ ListenerName: `tls-${n}`,
					Port: port, CertificateId: www, ForwardProtocol: "HTTP", ProxyId: PROXY }));
				const { ListenerId: mutual } = await ok(c.CreateHTTPSListener({ ListenerName: "m",
					Port: await freePort(), CertificateId: www, ForwardProtocol: "HTTPS",
					ProxyId: PROXY, AuthType: 1, PolyClientCertificateIds: [ca] }));
				const got = await ok(c.DescribeHTTPSListeners({ ProxyId: PROXY }));
				assert.equal(got.TotalCount, 2);
				const one = got.ListenerSet[0];
				assert.deepEqual([one.ListenerId, one.Protocol, one.CertificateId, one.CertificateAlias,
					one.AuthType, one.TLSSupportVersion, one.TLSCiphers],
				[lid, "HTTPS", www, "www", 0, ["TLSv1.2", "TLSv1.3"], "GAAP_TLS_CIPHERS_STRICT"]);
				assert.deepEqual(got.ListenerSet[1].PolyClientCertificateAliasInfo,
					[{ CertificateId: ca, CertificateAlias: "cca" }]);
				assert.equal((await ok(c.DescribeHTTPListeners({ ListenerId: lid }))).TotalCount, 0);
				assert.deepEqual(await presented(port, "www.example.com"), der(PEM["www.pem"]));

				await ok(c.CreateDomain({ ListenerId: lid, Domain: "other.example",
					CertificateId: other }));
				assert.deepEqual(await presented(port, "other.example"), der(PEM["other.pem"]));
				await ok(c.ModifyCertificate({ ListenerId: lid, Domain: "other.example",
					CertificateId: "default" }));
				assert.deepEqual(await presented(port, "other.example"), der(PEM["www.pem"]));
				await fails(c.ModifyCertificate({ ListenerId: lid, Domain: "other.example",
					CertificateId: www }), "InvalidParameterValue.CertificateNotMatchDomain");
				const rules = await ok(c.DescribeRules({ ListenerId: lid }));
				assert.equal(rules.DomainRuleSet[0].CertificateId, "default");

				await ok(c.ModifyHTTPSListenerAttribute({ ListenerId: lid, ProxyId: PROXY,
					ListenerName: "renamed", CertificateId: other, ForwardProtocol: "HTTPS" }));
				assert.deepEqual(await presented(port), der(PEM["other.pem"]));
				await ok(c.SetTlsVersion({ ListenerId: lid, TLSSupportVersion: ["TLSv1.3"],
					TLSCiphers: "GAAP_TLS_CIPHERS_GENERAL" }));
				const now = (await ok(c.DescribeHTTPSListeners({ ListenerId: lid }))).ListenerSet[0];
				assert.deepEqual([now.ListenerName, now.ForwardProtocol, now.CertificateId,
					now.TLSSupportVersion, now.TLSCiphers],
				["renamed", "HTTPS", other, ["TLSv1.3"], "GAAP_TLS_CIPHERS_GENERAL"]);

				await fails(c.DeleteCertificate({ CertificateId: other }),
					"FailedOperation.CertificateIsUsing");
				await ok(c.DeleteListeners({ ListenerIds: [lid, mutual], Force: 1, ProxyId: PROXY }));
				for (const id of [www, other, ca])
					await ok(c.DeleteCertificate({ CertificateId: id }));
			});

		it("answers the HTTPS listeners' documented errors", T, async () => {
			const { CertificateId: www } = await ok(c.CreateCertificate({ CertificateType: 2,
				CertificateContent: PEM["www.pem"], CertificateKey: PEM["www.key"] }));
			const base = { ListenerName: "e", ForwardProtocol: "HTTP", ProxyId: PROXY,
				CertificateId: www };
			await fails(c.CreateHTTPSListener({ ...base, Port: await freePort(),
				CertificateId: "cert-nosuch00" }), "InvalidParameterValue.InvalidCertificateId");
			await fails(c.CreateHTTPSListener({ ...base, Port: await freePort(), AuthType: 1 }),
				"MissingParameter");
			await fails(c.CreateHTTPSListener({ ...base, Port: await freePort(),
				ForwardProtocol: "FTP" }), "InvalidParameterValue");
			await fails(c.CreateHTTPSListener({ ...base, Port: await freePort(), Http3Supported: 1 }),
				"UnsupportedOperation");
			await fails(c.ModifyHTTPSListenerAttribute({ ListenerId: "listener-nosuch0",
				ListenerName: "x" }), "ResourceNotFound");
			await fails(c.SetTlsVersion({ ListenerId: "listener-nosuch0", TLSSupportVersion:
				["TLSv1.2"], TLSCiphers: "GAAP_TLS_CIPHERS_STRICT" }), "InvalidParameterValue");
			const { ListenerId: lid } = await ok(c.CreateHTTPSListener({ ...base,
				Port: await freePort() }));
			await fails(c.SetTlsVersion({ ListenerId: lid, TLSSupportVersion: ["SSLv3"],
				TLSCiphers: "GAAP_TLS_CIPHERS_STRICT" }), "InvalidParameterValue");
			await fails(c.SetTlsVersion({ ListenerId: lid, TLSSupportVersion: ["TLSv1.2"],
				TLSCiphers: "NONE" }), "InvalidParameterValue");
			await ok(c.DeleteListeners({ ListenerIds: [lid], Force: 0, ProxyId: PROXY }));
			await ok(c.DeleteCertificate({ CertificateId: www }));
		});
	});
});
