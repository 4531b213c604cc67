"""Certificates and HTTPS listeners through the API (l7-and-https.md §3, §6, §7, §8): each
action's success and every documented error with a real cause, all-or-nothing changes, keys that
never come back (no Describe, no log line), what an HTTPS listener presents after a restart and a
kill -9 in a burst of certificate changes. Certificates are made by the openssl CLI."""
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest
import urllib.parse

from harness import (GAAPCTL, PROXY, SECRET_ID, SECRET_KEY, Gaapd, error_code, fail_file_writes,
                     free_port, port_accepts, yaml_config)

CERT_ID = r"^cert-[0-9a-z]{8}$"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_certs(d):
    """ca (EC root), www (leaf of ca for www.example.com and *.api.example.com), other (leaf of ca
    for other.example), chain = www + ca, weak (RSA 1024), rsa (RSA 2048 self-signed), cca (a
    client CA), enc (www's key encrypted), stray (an unrelated key)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Test Root", cwd=d)
    openssl("req", "-x509", *ec, "-keyout", "cca.key", "-out", "cca.pem", "-days", "2",
            "-subj", "/CN=Client CA", cwd=d)
    for name, san in (("www", "DNS:www.example.com,DNS:*.api.example.com"),
                      ("other", "DNS:other.example")):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
                cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", "weak.key", "-out",
            "weak.pem", "-days", "2", "-subj", "/CN=weak", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-out",
            "rsa.pem", "-days", "2", "-subj", "/CN=rsa.example", cwd=d)
    openssl("pkey", "-in", "www.key", "-aes256", "-passout", "pass:x", "-out", "enc.key", cwd=d)
    openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
            "stray.key", cwd=d)
    pem = {}
    for name in os.listdir(d):
        if name.endswith((".pem", ".key")):
            with open(os.path.join(d, name)) as f:
                pem[name] = f.read()
    pem["chain.pem"] = pem["www.pem"] + pem["ca.pem"]
    with open(os.path.join(d, "chain.pem"), "w") as f:
        f.write(pem["chain.pem"])
    return pem


class HttpsApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gaapd-https-")
        cls.pem = make_certs(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.g = Gaapd(config_text=yaml_config())
        self.addCleanup(self.g.cleanup)
        self.g.start()

    def tearDown(self):
        if self.g.proc.poll() is None:
            self.g.stop()
        self.assertNoKeys(self.g.log_text())

    # ---- helpers ----

    def call(self, action, **params):
        resp = self.g.call(action, params)
        self.assertNoKeys(str(resp))
        return resp

    def ok(self, resp):
        self.assertNotIn("Error", resp)
        return resp

    def assertCode(self, resp, code, text=None):
        self.assertEqual(error_code(resp), code, resp)
        if text is not None:
            self.assertIn(text, resp["Error"]["Message"])

    def assertNoKeys(self, text):
        self.assertNotIn("PRIVATE KEY", text)
        for name in ("www.key", "other.key", "rsa.key", "cca.key"):
            body = self.pem[name].splitlines()[1]       # a line of the key's base64
            self.assertNotIn(body, text)
            self.assertNotIn(urllib.parse.quote(body, safe=""), text)

    def cert(self, type_=2, content="chain.pem", key="www.key", alias="", **extra):
        params = dict({"CertificateType": type_, "CertificateContent": self.pem[content],
                       "CertificateAlias": alias}, **extra)
        if key is not None and "CertificateKey" not in extra:
            params["CertificateKey"] = self.pem[key]
        return self.call("CreateCertificate", **params)

    def new_cert(self, *args, **kw):
        return self.ok(self.cert(*args, **kw))["CertificateId"]

    def https(self, cert, port=None, **extra):
        params = dict({"ListenerName": "tls", "Port": port or free_port(), "CertificateId": cert,
                       "ForwardProtocol": "HTTP", "ProxyId": PROXY}, **extra)
        return self.call("CreateHTTPSListener", **params)

    def listeners(self, **filters):
        resp = self.ok(self.call("DescribeHTTPSListeners", **dict({"ProxyId": PROXY}, **filters)))
        resp.pop("RequestId")
        return resp

    def certs(self):
        resp = self.ok(self.call("DescribeCertificates", Limit=100))
        resp.pop("RequestId")
        return resp

    def count(self):
        return self.ok(self.call("DescribeCertificates"))["TotalCount"]

    def presented(self, port, sni=None):
        """The leaf certificate (DER) the listener presents for sni."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=sni) as t:
                return t.getpeercert(binary_form=True)

    def der(self, name):
        return ssl.PEM_cert_to_DER_cert(self.pem[name].split("-----END CERTIFICATE-----")[0] +
                                        "-----END CERTIFICATE-----\n")

    # ---- certificates ----

    def test_certificates_are_created_listed_and_detailed_without_keys(self):
        server = self.new_cert(alias="site")
        self.assertRegex(server, CERT_ID)
        encoded = self.new_cert(1, "cca.pem", None, alias="clients",
                                CertificateContent=urllib.parse.quote(self.pem["cca.pem"]))
        plus = self.new_cert(1, "cca.pem", None,              # form style: '+' for a space
                             CertificateContent=urllib.parse.quote_plus(self.pem["cca.pem"]))
        self.ok(self.call("DeleteCertificate", CertificateId=plus))
        basic = self.new_cert(0, "cca.pem", None, CertificateContent="alice:$apr1$x$y\n")
        origin = self.new_cert(3, "ca.pem", None)
        gaap = self.new_cert(4, "rsa.pem", "rsa.key",
                             CertificateKey=urllib.parse.quote(self.pem["rsa.key"]))
        got = self.ok(self.call("DescribeCertificates"))
        self.assertEqual(got["TotalCount"], 5)
        self.assertEqual([c["CertificateId"] for c in got["CertificateSet"]],
                         [server, encoded, basic, origin, gaap])
        first = got["CertificateSet"][0]
        self.assertEqual((first["CertificateType"], first["CertificateAlias"],
                          first["CertificateName"], first["SubjectCN"], first["IssuerCN"]),
                         (2, "site", "site", "www", "Test Root"))
        self.assertLess(first["BeginTime"], first["EndTime"])
        self.assertIsInstance(first["CreateTime"], int)
        b = got["CertificateSet"][2]
        self.assertEqual((b["BeginTime"], b["EndTime"], b["SubjectCN"], b["IssuerCN"]),
                         (None, None, None, None))
        ones = self.ok(self.call("DescribeCertificates", CertificateType=1))
        self.assertEqual([c["CertificateId"] for c in ones["CertificateSet"]], [encoded])
        page = self.ok(self.call("DescribeCertificates", Offset=1, Limit=2))
        self.assertEqual((page["TotalCount"], [c["CertificateId"] for c in page["CertificateSet"]]),
                         (5, [encoded, basic]))
        detail = self.ok(self.call("DescribeCertificateDetail",
                                   CertificateId=encoded))["CertificateDetail"]
        self.assertEqual((detail["CertificateContent"], detail["CertificateKey"],
                          detail["SubjectCN"]), (self.pem["cca.pem"], None, "Client CA"))
        detail = self.ok(self.call("DescribeCertificateDetail",
                                   CertificateId=gaap))["CertificateDetail"]
        self.assertIsNone(detail["CertificateKey"])
        self.assertCode(self.call("DescribeCertificateDetail", CertificateId="cert-nosuch00"),
                        "ResourceNotFound")
        self.assertEqual(self.call("DescribeCertificateDetail", CertificateId="cert-nosuch00")
                         ["Error"]["Message"], "CertificateId not found")
        for params in ({"CertificateType": 5}, {"CertificateType": -2}, {"Limit": 101},
                       {"Limit": 0}):
            with self.subTest(params=params):
                self.assertCode(self.call("DescribeCertificates", **params),
                                "InvalidParameterValue")

    def test_create_certificate_errors_change_nothing(self):
        content = "InvalidParameterValue.InvalidCertificateContent"
        key = "InvalidParameterValue.InvalidCertificateKey"
        cases = [
            (dict(CertificateContent="-----BEGIN CERTIFICATE-----\nnope\n"
                  "-----END CERTIFICATE-----\n"), content),
            (dict(CertificateContent="hello"), content),
            (dict(CertificateContent="%zz"), content),
            (dict(content="weak.pem", key="weak.key"), content),      # RSA 1024: security level
            (dict(content="www.pem", key="ca.key"),
             "InvalidParameterValue.CertificateContentNotMatchKey"),
            (dict(key=None), key),
            (dict(key="enc.key"), key),
            (dict(CertificateKey="not a key"), key),
            (dict(type_=5), "InvalidParameterValue"),
            (dict(type_=1, content="ca.pem", key="ca.key"), "InvalidParameterValue"),
            (dict(alias="x" * 51), "InvalidParameterValue"),
        ]
        for kw, code in cases:
            with self.subTest(kw=kw):
                self.assertCode(self.cert(**kw), code)
        bad_order = self.call("CreateCertificate", CertificateType=2,
                              CertificateContent=self.pem["ca.pem"] + self.pem["www.pem"],
                              CertificateKey=self.pem["www.key"])
        self.assertCode(bad_order, content)
        self.assertCode(self.call("CreateCertificate", CertificateType=2), "MissingParameter")
        self.assertCode(self.cert(Bogus=1), "UnknownParameter")
        self.assertEqual(self.count(), 0)
        self.ok(self.cert(alias="é" * 50))                            # 50 characters, not bytes

    def test_rename_and_delete(self):
        cid = self.new_cert()
        self.ok(self.call("ModifyCertificateAttributes", CertificateId=cid, CertificateAlias="n"))
        self.ok(self.call("ModifyCertificateAttributes", CertificateId=cid))
        self.assertEqual(self.ok(self.call("DescribeCertificates"))["CertificateSet"][0]
                         ["CertificateAlias"], "n")
        self.assertCode(self.call("ModifyCertificateAttributes", CertificateId=cid,
                                  CertificateAlias="y" * 51), "InvalidParameterValue")
        self.assertCode(self.call("ModifyCertificateAttributes", CertificateId="cert-x",
                                  CertificateAlias="a"), "ResourceNotFound")
        self.ok(self.call("DeleteCertificate", CertificateId=cid))
        self.assertCode(self.call("DeleteCertificate", CertificateId=cid), "ResourceNotFound")
        self.assertEqual(self.count(), 0)

    # ---- HTTPS listeners ----

    def test_https_listener_is_created_described_and_serves_its_certificate(self):
        cid = self.new_cert(alias="site")
        ca = self.new_cert(1, "cca.pem", None, alias="cca")
        port = free_port()
        lid = self.ok(self.https(cid, port))["ListenerId"]
        mutual = self.ok(self.https(cid, AuthType=1, ClientCertificateId=ca,
                                    ForwardProtocol="HTTPS"))["ListenerId"]
        http = self.ok(self.g.create(free_port()))["ListenerId"]
        got = self.listeners()
        self.assertEqual(got["TotalCount"], 2)
        one = got["ListenerSet"][0]
        self.assertEqual(one, {
            "ListenerId": lid, "ListenerName": "tls", "Port": port, "Protocol": "HTTPS",
            "ListenerStatus": 0, "CertificateId": cid, "CertificateAlias": "site",
            "ForwardProtocol": "HTTP", "CreateTime": one["CreateTime"], "AuthType": 0,
            "ClientCertificateId": None, "ClientCertificateAlias": None,
            "PolyClientCertificateAliasInfo": None, "Http3Supported": 0, "ProxyId": PROXY,
            "GroupId": None, "TLSSupportVersion": ["TLSv1.2", "TLSv1.3"],
            "TLSCiphers": "GAAP_TLS_CIPHERS_STRICT"})
        two = got["ListenerSet"][1]
        self.assertEqual((two["AuthType"], two["ClientCertificateId"],
                          two["ClientCertificateAlias"], two["PolyClientCertificateAliasInfo"],
                          two["ForwardProtocol"]),
                         (1, ca, "cca", [{"CertificateId": ca, "CertificateAlias": "cca"}],
                          "HTTPS"))
        # HTTP and HTTPS listeners never appear in each other's Describe (§8)
        self.assertEqual(self.listeners(ListenerId=http)["TotalCount"], 0)
        self.assertEqual(self.ok(self.call("DescribeHTTPListeners", ListenerId=lid))
                         ["TotalCount"], 0)
        self.assertEqual(self.listeners(Http3Supported=1)["TotalCount"], 0)
        self.assertEqual(self.listeners(Http3Supported=0)["TotalCount"], 2)
        self.assertEqual(self.presented(port, "www.example.com"), self.der("www.pem"))
        self.assertCode(self.g.create(port), "InvalidParameterValue.DuplicatedListenerPort")
        self.assertCode(self.call("ModifyHTTPListenerAttribute", ListenerId=lid,
                                  ListenerName="x"), "ResourceNotFound")
        self.ok(self.call("DeleteListeners", ListenerIds=[lid, mutual, http], Force=0,
                          ProxyId=PROXY))
        self.assertEqual(self.listeners()["TotalCount"], 0)
        self.ok(self.call("DeleteCertificate", CertificateId=cid))

    def test_create_https_listener_errors(self):
        cid = self.new_cert()
        ca = self.new_cert(1, "cca.pem", None)
        invalid_id = "InvalidParameterValue.InvalidCertificateId"
        cases = [
            (dict(cert="cert-nosuch00"), invalid_id),
            (dict(cert=ca), invalid_id),                            # a client CA as server
            (dict(AuthType=1, ClientCertificateId=cid), invalid_id),  # a server cert as CA
            (dict(AuthType=1, ClientCertificateId="cert-nosuch00"), invalid_id),
            (dict(AuthType=1), "MissingParameter"),
            (dict(AuthType=1, ClientCertificateId=ca, PolyClientCertificateIds=[ca]),
             "InvalidParameter"),
            (dict(AuthType=2), "InvalidParameterValue"),
            (dict(ClientCertificateId=ca), "InvalidParameterValue"),  # with AuthType 0
            (dict(ForwardProtocol="FTP"), "InvalidParameterValue"),
            (dict(Http3Supported=1), "UnsupportedOperation"),
            (dict(ListenerName="bad name"), "InvalidParameterValue"),
            (dict(ProxyId="link-nosuch00"), "ResourceNotFound"),
            (dict(Bogus=1), "UnknownParameter"),
        ]
        for kw, code in cases:
            with self.subTest(kw=kw):
                cert = kw.pop("cert", cid)
                self.assertCode(self.https(cert, **kw), code)
        self.assertCode(self.call("CreateHTTPSListener", ListenerName="a", Port=free_port(),
                                  ProxyId=PROXY, ForwardProtocol="HTTP"), "MissingParameter")
        self.assertEqual(self.listeners()["TotalCount"], 0)

    def test_modify_https_listener_and_set_tls_version(self):
        cid = self.new_cert()
        rsa = self.new_cert(2, "rsa.pem", "rsa.key", alias="rsa")
        ca = self.new_cert(1, "cca.pem", None)
        port = free_port()
        lid = self.ok(self.https(cid, port))["ListenerId"]
        self.ok(self.call("ModifyHTTPSListenerAttribute", ListenerId=lid, ListenerName="renamed",
                          ForwardProtocol="HTTPS", CertificateId=rsa, ProxyId=PROXY))
        one = self.listeners()["ListenerSet"][0]
        self.assertEqual((one["ListenerName"], one["ForwardProtocol"], one["CertificateId"],
                          one["CertificateAlias"]), ("renamed", "HTTPS", rsa, "rsa"))
        self.assertEqual(self.presented(port), self.der("rsa.pem"))     # at once, new handshakes
        for kw, code in ((dict(CertificateId="cert-nosuch00"), "InvalidParameterValue"),
                         (dict(CertificateId=ca), "InvalidParameterValue"),
                         (dict(ClientCertificateId=ca), "InvalidParameterValue"),
                         (dict(ClientCertificateId=ca, PolyClientCertificateIds=[ca]),
                          "InvalidParameter"),
                         (dict(ForwardProtocol="FTP"), "InvalidParameterValue"),
                         (dict(ListenerName="a b"), "InvalidParameterValue"),
                         (dict(ListenerId="listener-nosuch0"), "ResourceNotFound"),
                         (dict(ProxyId="link-nosuch00"), "ResourceNotFound")):
            with self.subTest(kw=kw):
                self.assertCode(self.call("ModifyHTTPSListenerAttribute",
                                          **dict({"ListenerId": lid}, **kw)), code)
        self.assertEqual(self.listeners()["ListenerSet"][0], one)       # nothing changed
        http = self.ok(self.g.create(free_port()))["ListenerId"]
        self.assertCode(self.call("ModifyHTTPSListenerAttribute", ListenerId=http,
                                  ListenerName="x"), "ResourceNotFound")
        # SetTlsVersion
        self.ok(self.call("SetTlsVersion", ListenerId=lid,
                          TLSSupportVersion=["TLSv1.0", "TLSv1.2", "TLSv1.2"],
                          TLSCiphers="GAAP_TLS_CIPHERS_WIDE"))
        one = self.listeners()["ListenerSet"][0]
        self.assertEqual((one["TLSSupportVersion"], one["TLSCiphers"]),
                         (["TLSv1", "TLSv1.2"], "GAAP_TLS_CIPHERS_WIDE"))
        for kw in (dict(TLSSupportVersion=[]), dict(TLSSupportVersion=["SSLv3"]),
                   dict(TLSCiphers="GAAP_TLS_CIPHERS_NONE"), dict(ListenerId=http),
                   dict(ListenerId="listener-nosuch0")):
            with self.subTest(kw=kw):
                params = dict({"ListenerId": lid, "TLSSupportVersion": ["TLSv1.3"],
                               "TLSCiphers": "GAAP_TLS_CIPHERS_STRICT"}, **kw)
                resp = self.call("SetTlsVersion", **params)
                self.assertIn(error_code(resp), ("InvalidParameterValue", "MissingParameter"))
        self.assertEqual(self.listeners()["ListenerSet"][0], one)
        self.assertEqual(self.call("SetTlsVersion", ListenerId="listener-nosuch0",
                                   TLSSupportVersion=["TLSv1.3"],
                                   TLSCiphers="GAAP_TLS_CIPHERS_STRICT")["Error"]["Message"],
                         "ListenerId(listener-nosuch0) Not Exist.")

    # ---- domains' certificates ----

    def test_domain_certificates_sni_and_describe_rules(self):
        cid = self.new_cert(alias="main")
        other = self.new_cert(2, "other.pem", "other.key", alias="other")
        port = free_port()
        lid = self.ok(self.https(cid, port))["ListenerId"]
        self.ok(self.call("CreateDomain", ListenerId=lid, Domain="other.example",
                          CertificateId=other))
        self.ok(self.call("CreateDomain", ListenerId=lid, Domain="x.api.example.com",
                          CertificateId="default"))
        self.assertCode(self.call("CreateDomain", ListenerId=lid, Domain="www.other.example",
                                  CertificateId=other),
                        "InvalidParameterValue.CertificateNotMatchDomain")
        self.assertCode(self.call("CreateDomain", ListenerId=lid, Domain="a.example",
                                  CertificateId="cert-nosuch00"), "InvalidParameterValue")
        self.assertCode(self.call("CreateDomain", ListenerId=lid, Domain="a.example",
                                  ClientCertificateId="default",
                                  PolyClientCertificateIds=["default"]), "InvalidParameterValue")
        self.assertEqual(self.presented(port, "other.example"), self.der("other.pem"))
        self.assertEqual(self.presented(port, "OTHER.example"), self.der("other.pem"))
        self.assertEqual(self.presented(port, "x.api.example.com"), self.der("www.pem"))
        self.assertEqual(self.presented(port, "unknown.example"), self.der("www.pem"))
        sets = self.ok(self.call("DescribeRules", ListenerId=lid))["DomainRuleSet"]
        self.assertEqual([(d["CertificateId"], d["CertificateAlias"],
                           d["PolyClientCertificateAliasInfo"]) for d in sets],
                         [(other, "other", []), ("default", "main", [])])
        # ModifyCertificate: back to the listener's, then Terraform's ModifyDomain
        self.ok(self.call("ModifyCertificate", ListenerId=lid, Domain="other.example",
                          CertificateId="default"))
        self.assertEqual(self.presented(port, "other.example"), self.der("www.pem"))
        self.assertCode(self.call("ModifyCertificate", ListenerId=lid, Domain="nosuch.example",
                                  CertificateId="default"), "ResourceNotFound")
        self.assertCode(self.call("ModifyCertificate", ListenerId=lid, Domain="x.api.example.com",
                                  CertificateId=other),
                        "InvalidParameterValue.CertificateNotMatchDomain")
        self.ok(self.call("ModifyCertificate", ListenerId=lid, Domain="other.example",
                          CertificateId=other))
        self.ok(self.call("ModifyDomain", ListenerId=lid, OldDomain="other.example",
                          NewDomain="other.example", CertificateId="default",
                          PolyClientCertificateIds=["default"]))
        self.assertEqual(self.presented(port, "other.example"), self.der("www.pem"))
        self.assertCode(self.call("ModifyDomain", ListenerId=lid, OldDomain="other.example",
                                  NewDomain="renamed.example", CertificateId=other),
                        "InvalidParameterValue.CertificateNotMatchDomain")
        # an HTTP listener takes "default" only
        http = self.ok(self.g.create(free_port()))["ListenerId"]
        self.ok(self.call("CreateDomain", ListenerId=http, Domain="h.example"))
        self.ok(self.call("ModifyCertificate", ListenerId=http, Domain="h.example",
                          CertificateId="default"))
        self.assertCode(self.call("ModifyCertificate", ListenerId=http, Domain="h.example",
                                  CertificateId=other), "InvalidParameterValue")

    def test_mutual_tls_domains_show_their_client_cas(self):
        cid = self.new_cert()
        ca = self.new_cert(1, "cca.pem", None, alias="cca")
        ca2 = self.new_cert(1, "ca.pem", None, alias="root")
        lid = self.ok(self.https(cid, AuthType=1, PolyClientCertificateIds=[ca]))["ListenerId"]
        plain = self.ok(self.https(cid))["ListenerId"]
        self.ok(self.call("CreateDomain", ListenerId=lid, Domain="a.example"))
        self.ok(self.call("CreateDomain", ListenerId=lid, Domain="b.example",
                          PolyClientCertificateIds=[ca2, ca]))
        self.assertCode(self.call("CreateDomain", ListenerId=plain, Domain="b.example",
                                  ClientCertificateId=ca), "InvalidParameterValue")
        sets = self.ok(self.call("DescribeRules", ListenerId=lid))["DomainRuleSet"]
        self.assertEqual([(d["ClientCertificateId"], d["ClientCertificateAlias"],
                           d["PolyClientCertificateAliasInfo"]) for d in sets],
                         [("default", "cca", [{"CertificateId": "default",
                                               "CertificateAlias": "cca"}]),
                          (ca2, "root", [{"CertificateId": ca2, "CertificateAlias": "root"},
                                         {"CertificateId": ca, "CertificateAlias": "cca"}])])
        self.ok(self.call("ModifyHTTPSListenerAttribute", ListenerId=lid,
                          PolyClientCertificateIds=[ca2]))
        self.assertEqual(self.listeners(ListenerId=lid)["ListenerSet"][0]
                         ["PolyClientCertificateAliasInfo"],
                         [{"CertificateId": ca2, "CertificateAlias": "root"}])

    def test_delete_certificate_in_use_is_refused_naming_the_user(self):
        cid = self.new_cert()
        other = self.new_cert(2, "other.pem", "other.key")
        ca = self.new_cert(1, "cca.pem", None)
        lid = self.ok(self.https(cid))["ListenerId"]
        self.assertCode(self.call("DeleteCertificate", CertificateId=cid),
                        "FailedOperation.CertificateIsUsing", lid)
        self.ok(self.call("CreateDomain", ListenerId=lid, Domain="other.example",
                          CertificateId=other))
        self.assertCode(self.call("DeleteCertificate", CertificateId=other),
                        "FailedOperation.CertificateIsUsing", "other.example")
        mutual = self.ok(self.https(other, AuthType=1, ClientCertificateId=ca))["ListenerId"]
        self.assertCode(self.call("DeleteCertificate", CertificateId=ca),
                        "FailedOperation.CertificateIsUsing", mutual)
        self.assertEqual(self.count(), 3)
        self.ok(self.call("DeleteListeners", ListenerIds=[lid, mutual], Force=1, ProxyId=PROXY))
        for c in (cid, other, ca):
            self.ok(self.call("DeleteCertificate", CertificateId=c))

    # ---- gaapctl ----

    def gaapctl(self, *args):
        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)
        out = subprocess.run([GAAPCTL, "--endpoint", f"127.0.0.1:{self.g.port}", *args],
                             capture_output=True, env=env, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNoKeys(out.stdout.decode() + out.stderr.decode())
        return json.loads(out.stdout)["Response"]

    def test_gaapctl_builds_an_https_listener_from_pem_files(self):
        d = self.tmp.name
        cid = self.gaapctl("CreateCertificate", "--CertificateType", "2", "--CertificateContent",
                           f"@{d}/chain.pem", "--CertificateKey", f"@{d}/www.key",
                           "--CertificateAlias", "site")["CertificateId"]
        port = free_port()
        lid = self.gaapctl("CreateHTTPSListener", "--ProxyId", PROXY, "--ListenerName", "web",
                           "--Port", str(port), "--CertificateId", cid, "--ForwardProtocol",
                           "HTTP")["ListenerId"]
        self.gaapctl("SetTlsVersion", "--ListenerId", lid, "--TLSSupportVersion",
                     "TLSv1.2,TLSv1.3", "--TLSCiphers", "GAAP_TLS_CIPHERS_GENERAL")
        one = self.listeners()["ListenerSet"][0]
        self.assertEqual((one["CertificateAlias"], one["TLSCiphers"]),
                         ("site", "GAAP_TLS_CIPHERS_GENERAL"))
        self.assertEqual(self.presented(port), self.der("www.pem"))

    # ---- durability ----

    def test_a_failed_store_write_changes_nothing(self):
        cid = self.new_cert(alias="a")
        other = self.new_cert(2, "other.pem", "other.key")
        port = free_port()
        lid = self.ok(self.https(cid, port))["ListenerId"]
        before = (self.listeners(), self.certs())
        writes_again = fail_file_writes(self.g)         # the journal's write fails: EFBIG
        free = free_port()
        for action, params in (
                ("CreateCertificate", {"CertificateType": 2, "CertificateContent":
                                       self.pem["www.pem"], "CertificateKey": self.pem["www.key"]}),
                ("ModifyCertificateAttributes", {"CertificateId": cid, "CertificateAlias": "b"}),
                ("DeleteCertificate", {"CertificateId": other}),
                ("CreateHTTPSListener", {"ListenerName": "x", "Port": free, "CertificateId": cid,
                                         "ForwardProtocol": "HTTP", "ProxyId": PROXY}),
                ("ModifyHTTPSListenerAttribute", {"ListenerId": lid, "CertificateId": other}),
                ("SetTlsVersion", {"ListenerId": lid, "TLSSupportVersion": ["TLSv1.3"],
                                   "TLSCiphers": "GAAP_TLS_CIPHERS_WIDE"})):
            with self.subTest(action=action):
                self.assertCode(self.call(action, **params), "InternalError")
        writes_again()
        self.assertEqual((self.listeners(), self.certs()), before)
        self.assertFalse(port_accepts(free))
        self.assertEqual(self.presented(port), self.der("www.pem"))

    def test_state_survives_restart_and_kill9_in_a_burst(self):
        cid = self.new_cert()
        other = self.new_cert(2, "other.pem", "other.key")
        port = free_port()
        lid = self.ok(self.https(cid, port))["ListenerId"]
        self.ok(self.call("CreateDomain", ListenerId=lid, Domain="other.example",
                          CertificateId=other))
        self.ok(self.call("SetTlsVersion", ListenerId=lid, TLSSupportVersion=["TLSv1.3"],
                          TLSCiphers="GAAP_TLS_CIPHERS_GENERAL"))
        before = (self.listeners(), self.certs())
        self.g.stop()
        self.g.start()
        self.assertEqual((self.listeners(), self.certs()), before)
        self.assertEqual(self.presented(port, "other.example"), self.der("other.pem"))
        self.assertEqual(self.presented(port), self.der("www.pem"))
        state = os.path.join(self.g.dir, "state")
        for name in os.listdir(state):
            mode = os.stat(os.path.join(state, name)).st_mode & 0o777
            self.assertEqual(mode & 0o077, 0, f"{name} is {oct(mode)}: it may hold keys")
        # a burst of certificate changes, kill -9 in the middle
        answered, stop = [], threading.Event()

        def burst():
            while not stop.is_set():
                try:
                    resp = self.g.call("CreateCertificate", {
                        "CertificateType": 2, "CertificateContent": self.pem["rsa.pem"],
                        "CertificateKey": self.pem["rsa.key"]})
                except Exception:
                    return
                if "Error" in resp:
                    return
                answered.append(resp["CertificateId"])
        t = threading.Thread(target=burst)
        t.start()
        while len(answered) < 5 and t.is_alive():
            threading.Event().wait(0.01)
        self.g.proc.send_signal(signal.SIGKILL)
        stop.set()
        t.join(10)
        self.g.proc.wait(10)
        self.g.log.close()
        self.g.start()
        listed = {c["CertificateId"] for c in
                  self.ok(self.call("DescribeCertificates", Limit=100))["CertificateSet"]}
        self.assertGreaterEqual(len(answered), 5)
        self.assertLessEqual(set(answered) | {cid, other}, listed)
        self.assertEqual(self.presented(port, "other.example"), self.der("other.pem"))


if __name__ == "__main__":
    unittest.main()
