"""Domains, rules, bindings and custom headers through the API (l7-and-https.md §3, §4, §5, §8):
each action's success and every documented error with a real cause, all-or-nothing changes,
GET/form flattening of nested parameters, keys limited to other proxies, and what survives a
restart or kill -9."""
import json
import os
import re
import signal
import subprocess
import unittest

from harness import (GAAPCTL, PROXY, SECRET_ID, SECRET_KEY, Gaapd, Origin, call_v1, error_code,
                     fail_file_writes, free_port, http_get, yaml_config)

OTHER = "link-other000"
RULE_ID = re.compile(r"^rule-[0-9a-z]{8}$")
LIMITED = {"secret_id": "AKIDLIMITED", "secret_key": "limitedkey"}
LIMITS = ["  max_domains_per_listener: 3", "  max_rules_per_listener: 4",
          "  max_bindings_per_rule: 3", "  max_headers_per_rule: 3"]
CHECK_DEFAULTS = {"DelayLoop": 5, "ConnectTimeout": 2, "Path": "/", "Method": "HEAD",
                  "StatusCode": [100, 200, 300, 400, 500], "FailedCountInter": 0,
                  "FailedThreshold": 0, "BlockInter": 0}


def config_text(status="RUNNING"):
    text = yaml_config(proxies=[{"id": PROXY, "status": status, "origins": ["127.0.0.1:1"]},
                                {"id": OTHER, "origins": ["127.0.0.1:1"]}])
    return text.replace("node:\n", "node:\n" + "\n".join(LIMITS) + "\n", 1)


class Layer7(unittest.TestCase):
    def setUp(self):
        self.g = Gaapd(config_text=config_text(),
                       credentials="[ops]\nsecret_id = AKIDLIMITED\nsecret_key = limitedkey\n"
                                   f"proxies = {OTHER}\n")
        self.addCleanup(self.g.cleanup)
        self.g.start()
        self.lid = self.ok(self.g.create(free_port()))["ListenerId"]

    def tearDown(self):
        if self.g.proc.poll() is None:
            self.g.stop()           # exit 0: under ASan, no leak and no error on the way

    # ---- helpers ----

    def call(self, action, **params):
        return self.g.call(action, params)

    def ok(self, resp):
        self.assertNotIn("Error", resp)
        return resp

    def assertCode(self, resp, code, text=None):
        self.assertEqual(error_code(resp), code, resp)
        if text is not None:
            self.assertIn(text, resp["Error"]["Message"])

    def domain(self, name="www.example.com", lid=None, **extra):
        return self.call("CreateDomain", ListenerId=lid or self.lid, Domain=name, **extra)

    def rule(self, path="/", domain="www.example.com", lid=None, **extra):
        params = dict({"ListenerId": lid or self.lid, "Domain": domain, "Path": path,
                       "RealServerType": "IP", "Scheduler": "rr", "HealthCheck": 0}, **extra)
        return self.g.call("CreateRule", params)

    def new_rule(self, path="/", **extra):
        return self.ok(self.rule(path, **extra))["RuleId"]

    def servers(self, *addrs):
        resp = self.ok(self.call("AddRealServers", ProjectId=0, RealServerIP=list(addrs),
                                 RealServerName="origin"))
        return [r["RealServerId"] for r in resp["RealServerSet"]]

    def bind(self, rule, bindings):
        return self.call("BindRuleRealServers", RuleId=rule, RealServerBindSet=bindings)

    def rules(self, lid=None):
        return self.ok(self.call("DescribeRules", ListenerId=lid or self.lid))

    def rule_info(self, rule):
        got = self.ok(self.call("DescribeRulesByRuleIds", RuleIds=[rule]))["RuleSet"]
        self.assertEqual(len(got), 1)
        return got[0]

    # ---- CreateDomain / ModifyDomain / DeleteDomain / DescribeRules ----

    def test_domains_are_created_listed_and_one_is_default(self):
        empty = self.rules()
        self.assertEqual((empty["TotalCount"], empty["DomainRuleSet"]), (0, []))
        self.ok(self.domain("www.example.com", IsDefaultServer=True))
        self.ok(self.domain("API.example.com", CertificateId="default",
                            PolyClientCertificateIds=["default"]))
        self.ok(self.domain("10.1.2.3", IsDefaultServer=True))      # takes the flag
        got = self.rules()
        self.assertEqual(got["TotalCount"], 3)
        sets = got["DomainRuleSet"]
        self.assertEqual([(d["Domain"], d["IsDefaultServer"]) for d in sets],
                         [("www.example.com", False), ("API.example.com", False),
                          ("10.1.2.3", True)])
        self.assertEqual(sets[0], {
            "Domain": "www.example.com", "RuleSet": [], "CertificateId": None,
            "CertificateAlias": None, "ClientCertificateId": None, "ClientCertificateAlias": None,
            "BasicAuthConfId": None, "BasicAuth": 0, "BasicAuthConfAlias": None,
            "RealServerCertificateId": None, "RealServerAuth": 0,
            "RealServerCertificateAlias": None, "GaapCertificateId": None, "GaapAuth": 0,
            "GaapCertificateAlias": None, "RealServerCertificateDomain": None,
            "PolyClientCertificateAliasInfo": [], "PolyRealServerCertificateAliasInfo": [],
            "DomainStatus": 0, "BanStatus": "RECOVER", "Http3Supported": 0,
            "IsDefaultServer": False, "TLSCiphers": "", "TLSSupportVersion": []})

    def test_create_domain_errors(self):
        self.ok(self.domain("www.example.com"))
        self.assertCode(self.domain("WWW.Example.COM"), "FailedOperation.DomainAlreadyExisted",
                        "WWW.Example.COM")
        self.assertCode(self.domain("a.example", lid="listener-nosuch00"), "ResourceNotFound",
                        "ListenerId(listener-nosuch00) Not Exist.")
        for bad in ("*.example.com", "ab", "a" * 81, "www.example.com:80", "www.example.com.",
                    "a_b.example", "~x", "-a.example", ""):
            with self.subTest(bad=bad):
                self.assertCode(self.domain(bad), "InvalidParameterValue")
        self.assertCode(self.domain("b.example", CertificateId="cert-abcdefgh"),
                        "InvalidParameterValue")
        self.assertCode(self.domain("b.example", PolyClientCertificateIds=["cert-abcdefgh"]),
                        "InvalidParameterValue")
        self.assertCode(self.domain("b.example", ClientCertificateId="default",
                                    PolyClientCertificateIds=["default"]), "InvalidParameterValue")
        self.assertCode(self.domain("b.example", Http3Supported=1), "InvalidParameterValue")
        self.assertCode(self.domain("b.example", IsDefaultServer="yes"), "InvalidParameter")
        self.assertCode(self.domain("b.example", IsDefaultServer=1), "InvalidParameter")
        self.assertCode(self.domain("b.example", Bogus=1), "UnknownParameter")
        self.assertCode(self.call("CreateDomain", ListenerId=self.lid), "MissingParameter")
        self.ok(self.domain("b.example"))
        self.ok(self.domain("c.example"))
        self.assertCode(self.domain("d.example"), "LimitExceeded", "max_domains_per_listener")
        self.assertEqual(self.rules()["TotalCount"], 3)

    def test_modify_domain_renames_keeps_rules_and_flips_default(self):
        self.ok(self.domain("old.example"))
        self.ok(self.domain("other.example"))
        rule = self.new_rule("/a", domain="old.example")
        # Terraform's call: same name, certificate "default" and ["default"] on an HTTP listener
        self.ok(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="old.example",
                          NewDomain="old.example", CertificateId="default",
                          PolyClientCertificateIds=["default"], IsDefaultServer=True))
        self.ok(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="OLD.example",
                          NewDomain="new.example"))
        sets = self.rules()["DomainRuleSet"]
        self.assertEqual([(d["Domain"], d["IsDefaultServer"]) for d in sets],
                         [("new.example", True), ("other.example", False)])
        self.assertEqual([r["RuleId"] for r in sets[0]["RuleSet"]], [rule])
        info = self.rule_info(rule)
        self.assertEqual((info["Domain"], info["CheckParams"]["Domain"]),
                         ("new.example", "new.example"))
        self.ok(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="other.example",
                          NewDomain="other.example", IsDefaultServer=True))
        self.assertEqual([d["IsDefaultServer"] for d in self.rules()["DomainRuleSet"]],
                         [False, True])
        self.ok(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="other.example",
                          NewDomain="other.example", IsDefaultServer=False))
        self.assertEqual([d["IsDefaultServer"] for d in self.rules()["DomainRuleSet"]],
                         [False, False])
        # errors
        self.assertCode(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="new.example",
                                  NewDomain="Other.example"),
                        "FailedOperation.DomainAlreadyExisted")
        self.assertCode(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="gone.example",
                                  NewDomain="x.example"), "ResourceNotFound",
                        "Domain(gone.example) Not Exist.")
        self.assertCode(self.call("ModifyDomain", ListenerId="listener-nosuch00",
                                  OldDomain="new.example", NewDomain="x.example"),
                        "ResourceNotFound")
        self.assertCode(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="new.example",
                                  NewDomain="bad_name"), "InvalidParameterValue")
        self.assertCode(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="new.example",
                                  NewDomain="new.example", CertificateId="cert-abcdefgh"),
                        "InvalidParameterValue")

    def test_delete_domain_with_force(self):
        self.ok(self.domain("www.example.com", IsDefaultServer=True))
        rule = self.new_rule("/")
        self.new_rule("/empty")
        (rs,) = self.servers("10.0.0.1")
        self.ok(self.bind(rule, [{"RealServerId": rs, "RealServerIP": "10.0.0.1",
                                  "RealServerPort": 80}]))
        self.assertCode(self.call("DeleteDomain", ListenerId=self.lid, Domain="www.example.com",
                                  Force=0), "FailedOperation.RealServerAlreadyBound",
                        "www.example.com")
        self.assertCode(self.call("DeleteDomain", ListenerId=self.lid, Domain="www.example.com",
                                  Force=2), "InvalidParameterValue")
        self.assertCode(self.call("DeleteDomain", ListenerId=self.lid, Domain="no.example",
                                  Force=1), "ResourceNotFound", "Domain(no.example) Not Exist.")
        self.assertCode(self.call("DeleteDomain", ListenerId="listener-nosuch00",
                                  Domain="www.example.com", Force=1), "ResourceNotFound")
        self.assertEqual(self.rules()["TotalCount"], 1)
        self.ok(self.call("DeleteDomain", ListenerId=self.lid, Domain="WWW.example.com", Force=1))
        self.assertEqual(self.rules()["TotalCount"], 0)
        self.assertEqual(self.ok(self.call("DescribeRulesByRuleIds", RuleIds=[rule]))["TotalCount"],
                         0)
        status = self.ok(self.call("DescribeRealServersStatus", RealServerIds=[rs]))
        self.assertEqual(status["RealServerStatusSet"][0]["BindStatus"], 0)
        self.ok(self.call("RemoveRealServers", RealServerIds=[rs]))   # no longer bound
        # without bindings Force 0 deletes the domain and its rules
        self.ok(self.domain("www.example.com"))
        self.new_rule("/")
        self.ok(self.call("DeleteDomain", ListenerId=self.lid, Domain="www.example.com", Force=0))

    def test_describe_rules_errors(self):
        self.assertCode(self.call("DescribeRules", ListenerId="listener-nosuch00"),
                        "ResourceNotFound", "ListenerId(listener-nosuch00) Not Exist.")
        self.assertCode(self.call("DescribeRules"), "MissingParameter")

    # ---- CreateRule / ModifyRuleAttribute / DeleteRule / DescribeRulesByRuleIds ----

    def test_create_rule_answers_rule_info_with_defaults(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("%2Fimage", Scheduler="WRR")
        self.assertTrue(RULE_ID.match(rule), rule)
        self.assertEqual(self.rule_info(rule), {
            "RuleId": rule, "ListenerId": self.lid, "Domain": "www.example.com", "Path": "/image",
            "RealServerType": "IP", "Scheduler": "wrr", "HealthCheck": 0, "RuleStatus": 0,
            "CheckParams": dict(CHECK_DEFAULTS, Domain="www.example.com"), "RealServerSet": [],
            "BindStatus": 1, "ForwardHost": "default", "ServerNameIndicationSwitch": "OFF",
            "ServerNameIndication": "", "ForcedRedirect": None, "ForwardProtocol": "default"})
        full = self.new_rule("/api", RealServerType="DOMAIN", Scheduler="lc", HealthCheck=1,
                             CheckParams={"DelayLoop": 10, "ConnectTimeout": 3,
                                          "Path": "/health?x=1", "Method": "get",
                                          "StatusCode": [200, 300], "Domain": "probe.example",
                                          "FailedCountInter": 60, "FailedThreshold": 5,
                                          "BlockInter": 600},
                             ForwardProtocol="HTTPS", ForwardHost="origin.example:8443",
                             ServerNameIndicationSwitch="ON", ServerNameIndication="sni.example",
                             ForcedRedirect="https://www.example.com/url")
        info = self.rule_info(full)
        self.assertEqual(info["CheckParams"], {"DelayLoop": 10, "ConnectTimeout": 3,
                                               "Path": "/health?x=1", "Method": "GET",
                                               "StatusCode": [200, 300], "Domain": "probe.example",
                                               "FailedCountInter": 60, "FailedThreshold": 5,
                                               "BlockInter": 600})
        self.assertEqual([info[k] for k in ("RealServerType", "Scheduler", "HealthCheck",
                                            "ForwardProtocol", "ForwardHost",
                                            "ServerNameIndicationSwitch", "ServerNameIndication",
                                            "ForcedRedirect")],
                         ["DOMAIN", "lc", 1, "HTTPS", "origin.example:8443", "ON", "sni.example",
                          "https://www.example.com/url"])
        # the official example: ForwardHost set, ForwardProtocol HTTP
        self.new_rule("/ex", ForwardProtocol="HTTP", ForwardHost="www.baidu.com")
        self.new_rule("/redirect", ForcedRedirect="https:")
        self.assertEqual([r["Path"] for r in self.rules()["DomainRuleSet"][0]["RuleSet"]],
                         ["/image", "/api", "/ex", "/redirect"])

    def test_create_rule_errors(self):
        self.ok(self.domain("www.example.com"))
        self.new_rule("/a")
        self.assertCode(self.rule("/a"), "FailedOperation.RuleAlreadyExisted", "/a")
        self.assertCode(self.rule("/x", domain="none.example"), "ResourceNotFound",
                        "Domain(none.example) Not Exist.")
        self.assertCode(self.rule("/x", lid="listener-nosuch00"), "ResourceNotFound",
                        "ListenerId(listener-nosuch00) Not Exist.")
        self.assertCode(self.rule("/x", ServerNameIndicationSwitch="ON"), "MissingParameter")
        bad = [{"Path": "api"}, {"Path": ""}, {"Path": "/a b"}, {"Path": "/a?b"},
               {"Path": "/a#b"}, {"Path": "/" + "a" * 80}, {"Path": "%2Fa%zz"},
               {"RealServerType": "HOST"}, {"Scheduler": "random"}, {"HealthCheck": 2},
               {"ForwardProtocol": "TCP"}, {"ForwardHost": "bad host"},
               {"ForcedRedirect": "http://www.example.com"}, {"ForcedRedirect": "www.example.com"},
               {"ServerNameIndicationSwitch": "MAYBE"},
               {"ServerNameIndicationSwitch": "ON", "ServerNameIndication": "bad_sni"},
               {"CheckParams": {"StatusCode": []}}, {"CheckParams": {"StatusCode": [250]}},
               {"CheckParams": {"StatusCode": [600]}},
               {"CheckParams": {"DelayLoop": 5, "ConnectTimeout": 6}},
               {"CheckParams": {"DelayLoop": 301}}, {"CheckParams": {"DelayLoop": 0}},
               {"CheckParams": {"ConnectTimeout": 61, "DelayLoop": 100}},
               {"CheckParams": {"Method": "POST"}}, {"CheckParams": {"Path": "health"}},
               {"CheckParams": {"Domain": "bad domain"}}]
        for extra in bad:
            with self.subTest(extra=extra):
                params = dict({"Path": "/x"}, **extra)
                self.assertCode(self.rule(**params), "InvalidParameterValue")
        self.assertCode(self.rule("/x", CheckParams={"Bogus": 1}), "UnknownParameter",
                        "CheckParams.Bogus")
        self.assertCode(self.rule("/x", CheckParams={"DelayLoop": "often"}), "InvalidParameter",
                        "CheckParams.DelayLoop")
        self.assertCode(self.rule("/x", CheckParams=[1]), "InvalidParameter")
        self.assertCode(self.g.call("CreateRule", {"ListenerId": self.lid, "Domain": "x"}),
                        "MissingParameter")
        for i in range(3):
            self.new_rule(f"/n{i}")
        self.assertCode(self.rule("/n9"), "FailedOperation.LimitNumofRules",
                        "max_rules_per_listener")
        self.assertEqual(len(self.rules()["DomainRuleSet"][0]["RuleSet"]), 4)

    def test_modify_rule_attribute_is_partial(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/a", Scheduler="wrr", HealthCheck=1,
                             CheckParams={"DelayLoop": 30, "Path": "/check",
                                          "StatusCode": [200]},
                             ForwardHost="origin.example", ServerNameIndicationSwitch="ON",
                             ServerNameIndication="sni.example", ForcedRedirect="https:")
        before = self.rule_info(rule)
        self.ok(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule))
        self.assertEqual(self.rule_info(rule), before)
        # the official example: CheckParams with Path alone; Domain cannot be changed here
        self.ok(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule,
                          CheckParams={"Path": "/check_path", "Domain": "ignored.example"}))
        after = self.rule_info(rule)
        self.assertEqual(after["CheckParams"], dict(before["CheckParams"], Path="/check_path"))
        self.ok(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule,
                          Scheduler="LRTT", HealthCheck=0, Path="/b", ForwardProtocol="HTTP",
                          ForwardHost="default", ServerNameIndicationSwitch="OFF",
                          ServerNameIndication="", ForcedRedirect=""))
        got = self.rule_info(rule)
        self.assertEqual([got[k] for k in ("Scheduler", "HealthCheck", "Path", "ForwardProtocol",
                                           "ForwardHost", "ServerNameIndicationSwitch",
                                           "ServerNameIndication", "ForcedRedirect")],
                         ["lrtt", 0, "/b", "HTTP", "default", "OFF", "", None])
        # the switch: "" keeps it; ON needs a name given or stored
        self.assertCode(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule,
                                  ServerNameIndicationSwitch="ON"), "MissingParameter")
        self.ok(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule,
                          ServerNameIndication="n.example"))
        self.ok(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule,
                          ServerNameIndicationSwitch="ON"))
        self.ok(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule,
                          ServerNameIndicationSwitch=""))
        self.assertEqual(self.rule_info(rule)["ServerNameIndicationSwitch"], "ON")
        # errors
        other = self.new_rule("/c")
        self.assertCode(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=other,
                                  Path="/b"), "FailedOperation.RuleAlreadyExisted")
        self.assertCode(self.call("ModifyRuleAttribute", ListenerId=self.lid,
                                  RuleId="rule-nosuch00"), "ResourceNotFound",
                        "RuleId(rule-nosuch00) Not Exist.")
        lid2 = self.ok(self.g.create(free_port(), name="listener-2"))["ListenerId"]
        self.assertCode(self.call("ModifyRuleAttribute", ListenerId=lid2, RuleId=rule),
                        "ResourceNotFound")
        self.assertCode(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule,
                                  CheckParams={"ConnectTimeout": 31}), "InvalidParameterValue")
        self.assertCode(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule,
                                  Scheduler="fastest"), "InvalidParameterValue")
        self.assertEqual(self.rule_info(rule)["CheckParams"]["ConnectTimeout"], 2)

    def test_delete_rule_with_force(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/")
        (rs,) = self.servers("10.0.0.1")
        self.ok(self.bind(rule, [{"RealServerId": rs, "RealServerIP": "10.0.0.1",
                                  "RealServerPort": 80}]))
        self.ok(self.call("CreateCustomHeader", RuleId=rule,
                          Headers=[{"HeaderName": "X-A", "HeaderValue": "1"}]))
        self.assertCode(self.call("DeleteRule", ListenerId=self.lid, RuleId=rule, Force=0),
                        "FailedOperation.RealServerAlreadyBound", rule)
        self.assertCode(self.call("DeleteRule", ListenerId=self.lid, RuleId=rule, Force=5),
                        "InvalidParameterValue")
        self.assertCode(self.call("DeleteRule", ListenerId=self.lid, RuleId="rule-nosuch00",
                                  Force=1), "ResourceNotFound")
        self.ok(self.call("DeleteRule", ListenerId=self.lid, RuleId=rule, Force=1))
        self.assertEqual(self.rules()["DomainRuleSet"][0]["RuleSet"], [])
        self.assertCode(self.call("DescribeCustomHeader", RuleId=rule), "InvalidParameterValue",
                        f"RuleId({rule}) Not Exist.")
        self.ok(self.call("DeleteRule", ListenerId=self.lid, RuleId=self.new_rule("/"), Force=0))

    def test_describe_rules_by_rule_ids(self):
        self.ok(self.domain("www.example.com"))
        a, b = self.new_rule("/a"), self.new_rule("/b")
        got = self.ok(self.call("DescribeRulesByRuleIds", RuleIds=[b, "rule-nosuch00", a, b]))
        self.assertEqual((got["TotalCount"], [r["RuleId"] for r in got["RuleSet"]]), (2, [b, a]))
        none = self.ok(self.call("DescribeRulesByRuleIds", RuleIds=["rule-nosuch00"]))
        self.assertEqual((none["TotalCount"], none["RuleSet"]), (0, []))
        self.assertCode(self.call("DescribeRulesByRuleIds", RuleIds=[]), "InvalidParameterValue")
        self.assertCode(self.call("DescribeRulesByRuleIds", RuleIds=[f"rule-{i}" for i in range(11)]),
                        "InvalidParameterValue")

    # ---- BindRuleRealServers / DescribeRuleRealServers ----

    def test_bind_replaces_the_set_and_answers_bindings(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/", Scheduler="wrr")
        a, b, name = self.servers("10.0.0.1", "10.0.0.2", "origin.example")
        self.ok(self.bind(rule, [
            {"RealServerId": a, "RealServerIP": "10.0.0.1", "RealServerPort": 80,
             "RealServerWeight": 10, "RealServerFailoverRole": ""},
            {"RealServerId": a, "RealServerIP": "10.0.0.1", "RealServerPort": 8080},
            {"RealServerId": b, "RealServerIP": "10.0.0.2", "RealServerPort": "81"}]))
        expect = [{"RealServerId": a, "RealServerIP": "10.0.0.1", "RealServerPort": 80,
                   "RealServerWeight": 10, "RealServerStatus": 0, "DownIPList": [],
                   "RealServerFailoverRole": ""},
                  {"RealServerId": a, "RealServerIP": "10.0.0.1", "RealServerPort": 8080,
                   "RealServerWeight": 1, "RealServerStatus": 0, "DownIPList": [],
                   "RealServerFailoverRole": ""},
                  {"RealServerId": b, "RealServerIP": "10.0.0.2", "RealServerPort": 81,
                   "RealServerWeight": 1, "RealServerStatus": 0, "DownIPList": [],
                   "RealServerFailoverRole": ""}]
        self.assertEqual(self.rule_info(rule)["RealServerSet"], expect)
        got = self.ok(self.call("DescribeRuleRealServers", RuleId=rule))
        self.assertEqual(got["BindRealServerTotalCount"], 3)
        self.assertEqual(got["BindRealServerSet"], expect)
        self.assertEqual(got["TotalCount"], 2)                  # IP servers only, bound or not
        self.assertEqual(got["RealServerSet"][0], {"RealServerIP": "10.0.0.1", "RealServerId": a,
                                                   "RealServerName": "origin", "ProjectId": 0,
                                                   "InBanBlacklist": 0})
        page = self.ok(self.call("DescribeRuleRealServers", RuleId=rule, Offset=1, Limit=1))
        self.assertEqual([r["RealServerId"] for r in page["RealServerSet"]], [b])
        status = self.ok(self.call("DescribeRealServersStatus", RealServerIds=[a, name]))
        self.assertEqual([(s["BindStatus"], s["ProxyId"]) for s in status["RealServerStatusSet"]],
                         [(1, PROXY), (0, "")])
        self.assertCode(self.call("RemoveRealServers", RealServerIds=[a]),
                        "FailedOperation.RealServerAlreadyBound")
        # absent and [] both unbind everything
        self.ok(self.call("BindRuleRealServers", RuleId=rule))
        self.assertEqual(self.rule_info(rule)["RealServerSet"], [])
        self.ok(self.bind(rule, [{"RealServerId": b, "RealServerIP": "10.0.0.2",
                                  "RealServerPort": 81}]))
        self.ok(self.bind(rule, []))
        self.assertEqual(self.rule_info(rule)["RealServerSet"], [])
        self.ok(self.call("RemoveRealServers", RealServerIds=[a]))

    def test_bind_errors_change_nothing(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/")
        a, b, c, d, name = self.servers("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4",
                                        "origin.example")
        good = [{"RealServerId": a, "RealServerIP": "10.0.0.1", "RealServerPort": 80}]
        self.ok(self.bind(rule, good))
        before = self.rule_info(rule)

        def binding(rs, ip, port=80, **extra):
            return dict({"RealServerId": rs, "RealServerIP": ip, "RealServerPort": port}, **extra)

        self.assertCode(self.bind(rule, [binding(b, "10.0.0.2"), binding("rs-nosuch00", "1.1.1.1")]),
                        "InvalidParameterValue.RealServerNotBelong", "rs-nosuch00")
        cases = [[binding(b, "10.0.0.9")],                           # not its address
                 [binding(name, "origin.example")],                  # a DOMAIN server on an IP rule
                 [binding(b, "10.0.0.2", port=0)], [binding(b, "10.0.0.2", port=65536)],
                 [binding(b, "10.0.0.2", RealServerWeight=0)],
                 [binding(b, "10.0.0.2", RealServerWeight=101)],
                 [binding(b, "10.0.0.2", RealServerFailoverRole="master")],
                 [binding(b, "10.0.0.2"), binding(b, "10.0.0.2")]]  # duplicate (id, port)
        for bindings in cases:
            with self.subTest(bindings=bindings):
                self.assertCode(self.bind(rule, bindings), "InvalidParameterValue")
        self.assertCode(self.bind(rule, [{"RealServerId": b, "RealServerPort": 80}]),
                        "MissingParameter", "RealServerBindSet.0.RealServerIP")
        self.assertCode(self.bind(rule, [dict(binding(b, "10.0.0.2"), Extra=1)]),
                        "UnknownParameter")
        self.assertCode(self.bind(rule, [binding(b, "10.0.0.2"), binding(c, "10.0.0.3"),
                                         binding(d, "10.0.0.4"), binding(a, "10.0.0.1")]),
                        "FailedOperation.LimitRealServerNum")
        self.assertCode(self.bind("rule-nosuch00", good), "ResourceNotFound",
                        "RuleId(rule-nosuch00) Not Exist.")
        self.assertEqual(self.rule_info(rule), before)
        self.assertCode(self.call("DescribeRuleRealServers", RuleId="rule-nosuch00"),
                        "ResourceNotFound")
        self.assertCode(self.call("DescribeRuleRealServers", RuleId=rule, Limit=1001),
                        "InvalidParameterValue")
        # a DOMAIN rule binds only DOMAIN servers
        dom = self.new_rule("/d", RealServerType="DOMAIN")
        self.ok(self.bind(dom, [binding(name, "origin.example", port=443)]))
        self.assertCode(self.bind(dom, [binding(a, "10.0.0.1")]), "InvalidParameterValue")
        got = self.ok(self.call("DescribeRuleRealServers", RuleId=dom))
        self.assertEqual([r["RealServerId"] for r in got["RealServerSet"]], [name])

    # ---- CreateCustomHeader / DescribeCustomHeader ----

    def test_custom_headers_replace_the_list(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/")
        self.assertEqual(self.ok(self.call("DescribeCustomHeader", RuleId=rule))["Headers"], [])
        headers = [{"HeaderName": "X-REAL_IP", "HeaderValue": "$remote_addr"},
                   {"HeaderName": "X-Empty", "HeaderValue": ""},
                   {"HeaderName": "X-Text", "HeaderValue": "a b\tc ~!"}]
        self.ok(self.call("CreateCustomHeader", RuleId=rule, Headers=headers))
        got = self.ok(self.call("DescribeCustomHeader", RuleId=rule))
        self.assertEqual((got["RuleId"], got["Headers"]), (rule, headers))
        self.ok(self.call("CreateCustomHeader", RuleId=rule, Headers=headers[:1]))
        self.assertEqual(self.ok(self.call("DescribeCustomHeader", RuleId=rule))["Headers"],
                         headers[:1])
        self.ok(self.call("CreateCustomHeader", RuleId=rule))           # absent: remove all
        self.assertEqual(self.ok(self.call("DescribeCustomHeader", RuleId=rule))["Headers"], [])

    def test_custom_header_errors(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/")
        self.ok(self.call("CreateCustomHeader", RuleId=rule,
                          Headers=[{"HeaderName": "X-Keep", "HeaderValue": "1"}]))

        def h(name, value="v"):
            return {"HeaderName": name, "HeaderValue": value}

        for name in ("Host", "content-length", "Transfer-Encoding", "CONNECTION", "Keep-Alive",
                     "Proxy-Connection", "TE", "Trailer", "Upgrade", "Expect", "x-forwarded-for"):
            with self.subTest(name=name):
                self.assertCode(self.call("CreateCustomHeader", RuleId=rule, Headers=[h(name)]),
                                "InvalidParameterValue.HitBlacklist")
        for headers in ([h("")], [h("X A")], [h("X:A")], [h("X" * 101)], [h("X-\u00e9")],
                        [h("X-A", "a\r\nb")], [h("X-A", "a\nb")], [h("X-A", "x" * 1025)],
                        [h("X-A", "caf\u00e9")], [h("X-A"), h("x-a")]):
            with self.subTest(headers=headers):
                self.assertCode(self.call("CreateCustomHeader", RuleId=rule, Headers=headers),
                                "InvalidParameterValue")
        self.ok(self.call("CreateCustomHeader", RuleId=rule, Headers=[h("X" * 100, "x" * 1024)]))
        self.assertCode(self.call("CreateCustomHeader", RuleId=rule,
                                  Headers=[h(f"X-{i}") for i in range(4)]), "LimitExceeded")
        self.assertCode(self.call("CreateCustomHeader", RuleId="rule-nosuch00", Headers=[h("X-A")]),
                        "ResourceNotFound")
        self.assertCode(self.call("CreateCustomHeader", RuleId=rule,
                                  Headers=[{"HeaderName": "X-A"}]), "MissingParameter")
        self.assertCode(self.call("DescribeCustomHeader", RuleId="rule-nosuch00"),
                        "InvalidParameterValue", "RuleId(rule-nosuch00) Not Exist.")
        self.assertEqual(self.ok(self.call("DescribeCustomHeader", RuleId=rule))["Headers"],
                         [h("X" * 100, "x" * 1024)])

    # ---- DeleteListeners (§8) ----

    def test_delete_listeners_force(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/")
        (rs,) = self.servers("10.0.0.1")
        self.ok(self.bind(rule, [{"RealServerId": rs, "RealServerIP": "10.0.0.1",
                                  "RealServerPort": 80}]))
        other = self.ok(self.g.create(free_port(), name="listener-2"))["ListenerId"]
        self.assertCode(self.call("DeleteListeners", ProxyId=PROXY, ListenerIds=[other, self.lid],
                                  Force=0), "FailedOperation.RealServerAlreadyBound", self.lid)
        self.assertEqual(self.rules()["TotalCount"], 1)          # nothing deleted
        self.ok(self.call("DescribeRules", ListenerId=other))
        got = self.ok(self.call("DeleteListeners", ProxyId=PROXY, ListenerIds=[other, self.lid],
                                Force=1))
        self.assertEqual(sorted(got["OperationSucceedListenerSet"]), sorted([other, self.lid]))
        self.assertCode(self.call("DescribeRules", ListenerId=self.lid), "ResourceNotFound")
        self.assertEqual(self.ok(self.call("DescribeRulesByRuleIds", RuleIds=[rule]))["TotalCount"],
                         0)
        self.ok(self.call("RemoveRealServers", RealServerIds=[rs]))

    # ---- authorization ----

    def test_a_key_limited_to_another_proxy(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/")
        self.ok(self.call("CreateCustomHeader", RuleId=rule,
                          Headers=[{"HeaderName": "X-A", "HeaderValue": "1"}]))
        (rs,) = self.servers("10.0.0.1")
        mine = self.ok(self.g.create(free_port(), name="mine", proxy=OTHER))["ListenerId"]
        calls = [("CreateDomain", {"ListenerId": self.lid, "Domain": "x.example"}),
                 ("ModifyDomain", {"ListenerId": self.lid, "OldDomain": "www.example.com",
                                   "NewDomain": "y.example"}),
                 ("DeleteDomain", {"ListenerId": self.lid, "Domain": "www.example.com", "Force": 1}),
                 ("DescribeRules", {"ListenerId": self.lid}),
                 ("CreateRule", {"ListenerId": self.lid, "Domain": "www.example.com", "Path": "/z",
                                 "RealServerType": "IP", "Scheduler": "rr", "HealthCheck": 0}),
                 ("ModifyRuleAttribute", {"ListenerId": self.lid, "RuleId": rule, "Path": "/q"}),
                 ("DeleteRule", {"ListenerId": self.lid, "RuleId": rule, "Force": 1}),
                 ("DescribeRulesByRuleIds", {"RuleIds": [rule]}),
                 ("BindRuleRealServers", {"RuleId": rule, "RealServerBindSet": [
                     {"RealServerId": rs, "RealServerIP": "10.0.0.1", "RealServerPort": 80}]}),
                 ("DescribeRuleRealServers", {"RuleId": rule}),
                 ("CreateCustomHeader", {"RuleId": rule}),
                 ("DescribeCustomHeader", {"RuleId": rule})]
        for action, params in calls:
            with self.subTest(action=action):
                self.assertCode(self.g.call(action, params, **LIMITED), "UnauthorizedOperation")
        self.assertEqual(self.rules()["DomainRuleSet"][0]["Domain"], "www.example.com")
        self.assertEqual(len(self.rules()["DomainRuleSet"][0]["RuleSet"]), 1)
        self.assertEqual(self.ok(self.call("DescribeCustomHeader", RuleId=rule))["Headers"],
                         [{"HeaderName": "X-A", "HeaderValue": "1"}])
        # its own proxy's listener is fine
        self.ok(self.g.call("CreateDomain", {"ListenerId": mine, "Domain": "m.example"}, **LIMITED))
        self.ok(self.g.call("DescribeRules", {"ListenerId": mine}, **LIMITED))

    # ---- state ----

    def test_writes_need_a_running_proxy_reads_do_not(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/")
        (rs,) = self.servers("10.0.0.1")
        with open(self.g.conf, "w") as f:
            f.write(config_text(status="CLOSED"))
        self.assertIn("reload applied", self.g.reload())
        code = "FailedOperation.InstanceStatusNotInRuning"
        self.assertCode(self.domain("b.example"), code, PROXY)
        self.assertCode(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="www.example.com",
                                  NewDomain="c.example"), code)
        self.assertCode(self.call("DeleteDomain", ListenerId=self.lid, Domain="www.example.com",
                                  Force=1), code)
        self.assertCode(self.rule("/b"), code)
        self.assertCode(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=rule,
                                  Path="/c"), code)
        self.assertCode(self.call("DeleteRule", ListenerId=self.lid, RuleId=rule, Force=1), code)
        self.assertCode(self.bind(rule, [{"RealServerId": rs, "RealServerIP": "10.0.0.1",
                                          "RealServerPort": 80}]), code)
        self.assertCode(self.call("CreateCustomHeader", RuleId=rule), code)
        self.assertEqual(self.rules()["DomainRuleSet"][0]["RuleSet"][0]["RuleId"], rule)
        self.ok(self.call("DescribeRuleRealServers", RuleId=rule))
        self.ok(self.call("DescribeCustomHeader", RuleId=rule))

    def test_a_failed_store_write_changes_nothing(self):
        self.ok(self.domain("www.example.com"))
        rule = self.new_rule("/")
        (rs,) = self.servers("10.0.0.1")
        before = self.rules()["DomainRuleSet"]
        writes_again = fail_file_writes(self.g)         # the journal's write fails: EFBIG
        self.assertCode(self.bind(rule, [{"RealServerId": rs, "RealServerIP": "10.0.0.1",
                                          "RealServerPort": 80}]), "InternalError")
        self.assertCode(self.domain("b.example"), "InternalError")
        self.assertCode(self.call("CreateCustomHeader", RuleId=rule,
                                  Headers=[{"HeaderName": "X-A", "HeaderValue": "1"}]),
                        "InternalError")
        writes_again()
        self.assertEqual(self.rules()["DomainRuleSet"], before)
        self.assertEqual(self.ok(self.call("DescribeCustomHeader", RuleId=rule))["Headers"], [])
        self.ok(self.bind(rule, [{"RealServerId": rs, "RealServerIP": "10.0.0.1",
                                  "RealServerPort": 80}]))

    # ---- GET / form style ----

    def test_nested_parameters_in_get_and_form_style(self):
        r = call_v1(self.g, "CreateDomain", {"ListenerId": self.lid, "Domain": "www.example.com",
                                             "IsDefaultServer": "true"})
        self.ok(r)
        self.assertCode(call_v1(self.g, "CreateDomain", {"ListenerId": self.lid,
                                                         "Domain": "b.example",
                                                         "IsDefaultServer": "yes"}),
                        "InvalidParameter")
        self.ok(call_v1(self.g, "CreateDomain", {"ListenerId": self.lid, "Domain": "c.example",
                                                 "IsDefaultServer": "0"}))
        self.assertEqual([d["IsDefaultServer"] for d in self.rules()["DomainRuleSet"]],
                         [True, False])
        rule = self.ok(call_v1(self.g, "CreateRule", {
            "ListenerId": self.lid, "Domain": "www.example.com", "Path": "/", "RealServerType": "IP",
            "Scheduler": "rr", "HealthCheck": 1,
            "CheckParams": {"DelayLoop": 10, "StatusCode": [200, 300]}}, method="POST"))["RuleId"]
        self.assertEqual(self.rule_info(rule)["CheckParams"]["StatusCode"], [200, 300])
        self.assertEqual(self.rule_info(rule)["CheckParams"]["DelayLoop"], 10)
        a, b = self.servers("10.0.0.1", "10.0.0.2")
        self.ok(call_v1(self.g, "BindRuleRealServers", {"RuleId": rule, "RealServerBindSet": [
            {"RealServerId": a, "RealServerIP": "10.0.0.1", "RealServerPort": 80},
            {"RealServerId": b, "RealServerIP": "10.0.0.2", "RealServerPort": 81,
             "RealServerWeight": 7}]}))
        self.assertEqual([(s["RealServerId"], s["RealServerPort"], s["RealServerWeight"])
                          for s in self.rule_info(rule)["RealServerSet"]],
                         [(a, 80, 1), (b, 81, 7)])
        self.ok(call_v1(self.g, "CreateCustomHeader", {"RuleId": rule, "Headers": [
            {"HeaderName": "X-A", "HeaderValue": "1"}]}, method="POST"))
        self.ok(call_v1(self.g, "BindRuleRealServers", {"RuleId": rule}))    # absent: unbind all
        self.assertEqual(self.rule_info(rule)["RealServerSet"], [])
        got = self.ok(call_v1(self.g, "DescribeRulesByRuleIds", {"RuleIds": [rule]}))
        self.assertEqual(got["RuleSet"][0]["RuleId"], rule)
        self.assertEqual(self.ok(self.call("DescribeCustomHeader", RuleId=rule))["Headers"],
                         [{"HeaderName": "X-A", "HeaderValue": "1"}])

    # ---- what the answers mean for traffic ----

    def test_requests_follow_the_answered_routes(self):
        origin = Origin()
        self.addCleanup(origin.close)
        port = free_port()
        lid = self.ok(self.g.create(port, name="traffic"))["ListenerId"]
        self.ok(self.domain("www.example.com", lid=lid, IsDefaultServer=True))
        api = self.new_rule("/api", lid=lid, ForwardHost="origin.example")
        redirect = self.new_rule("/old", lid=lid, ForcedRedirect="https:")
        (rs,) = self.servers("127.0.0.1")
        self.ok(self.bind(api, [{"RealServerId": rs, "RealServerIP": "127.0.0.1",
                                 "RealServerPort": origin.port}]))
        self.ok(self.call("CreateCustomHeader", RuleId=api,
                          Headers=[{"HeaderName": "X-Rule", "HeaderValue": "api"}]))
        status, _, body = http_get(port, "/api/v1", headers={"Host": "www.example.com",
                                                             "X-Rule": "spoofed"})
        self.assertEqual(status, 200, body)
        seen = json.loads(body)
        self.assertEqual((seen["path"], seen["headers"]["host"], seen["headers"]["x-rule"]),
                         ("/api/v1", "origin.example", "api"))
        status, _, _ = http_get(port, "/api", headers={"Host": "other.example"})   # default
        self.assertEqual(status, 200)
        status, headers, _ = http_get(port, "/old/x", headers={"Host": "www.example.com:80"})
        self.assertEqual((status, headers.get("Location")), (301, "https://www.example.com/old/x"))
        self.assertEqual(http_get(port, "/nothing", headers={"Host": "www.example.com"})[0], 404)
        self.ok(self.bind(api, []))
        self.assertEqual(http_get(port, "/api", headers={"Host": "www.example.com"})[0], 503)
        self.ok(self.call("DeleteRule", ListenerId=lid, RuleId=redirect, Force=0))
        self.assertEqual(http_get(port, "/old", headers={"Host": "www.example.com"})[0], 404)

    # ---- gaapctl ----

    def gaapctl(self, *args):
        env = dict(os.environ, TENCENTCLOUD_SECRET_ID=SECRET_ID, TENCENTCLOUD_SECRET_KEY=SECRET_KEY)
        out = subprocess.run([GAAPCTL, "--endpoint", f"127.0.0.1:{self.g.port}", *args],
                             capture_output=True, env=env, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)["Response"]

    def test_gaapctl_passes_booleans_objects_and_lists_of_objects(self):
        self.gaapctl("CreateDomain", "--ListenerId", self.lid, "--Domain", "www.example.com",
                     "--IsDefaultServer", "true")
        rule = self.gaapctl("CreateRule", "--ListenerId", self.lid, "--Domain", "www.example.com",
                            "--Path", "/api", "--RealServerType", "IP", "--Scheduler", "wrr",
                            "--HealthCheck", "1", "--CheckParams",
                            '{"Path":"/health","StatusCode":[200]}')["RuleId"]
        (rs,) = self.servers("10.0.0.1")
        self.gaapctl("BindRuleRealServers", "--RuleId", rule, "--RealServerBindSet",
                     f'[{{"RealServerId":"{rs}","RealServerIP":"10.0.0.1","RealServerPort":80}}]')
        self.gaapctl("CreateCustomHeader", "--RuleId", rule, "--Headers",
                     '[{"HeaderName":"X-Via","HeaderValue":"gaap"}]')
        self.gaapctl("ModifyRuleAttribute", "--ListenerId", self.lid, "--RuleId", rule,
                     "--Scheduler", "lc")
        got = self.gaapctl("DescribeRules", "--ListenerId", self.lid)["DomainRuleSet"][0]
        self.assertTrue(got["IsDefaultServer"])
        info = got["RuleSet"][0]
        self.assertEqual((info["Scheduler"], info["CheckParams"]["StatusCode"],
                          info["RealServerSet"][0]["RealServerId"]), ("lc", [200], rs))
        self.assertEqual(self.gaapctl("DescribeRulesByRuleIds", "--RuleIds", rule)["TotalCount"], 1)
        self.assertEqual(self.gaapctl("DescribeCustomHeader", "--RuleId", rule)["Headers"],
                         [{"HeaderName": "X-Via", "HeaderValue": "gaap"}])
        self.gaapctl("DescribeRuleRealServers", "--RuleId", rule)
        self.gaapctl("ModifyDomain", "--ListenerId", self.lid, "--OldDomain", "www.example.com",
                     "--NewDomain", "www.example.com", "--IsDefaultServer", "false")
        self.gaapctl("DeleteRule", "--ListenerId", self.lid, "--RuleId", rule, "--Force", "1")
        self.gaapctl("DeleteDomain", "--ListenerId", self.lid, "--Domain", "www.example.com",
                     "--Force", "0")

    # ---- durability ----

    def test_what_was_answered_survives_a_restart_and_kill_9(self):
        self.ok(self.domain("www.example.com", IsDefaultServer=True))
        rule = self.new_rule("/api", Scheduler="wrr", CheckParams={"Path": "/h"})
        a, b = self.servers("10.0.0.1", "10.0.0.2")
        self.ok(self.bind(rule, [{"RealServerId": a, "RealServerIP": "10.0.0.1",
                                  "RealServerPort": 80, "RealServerWeight": 5}]))
        self.ok(self.call("CreateCustomHeader", RuleId=rule,
                          Headers=[{"HeaderName": "X-A", "HeaderValue": "1"}]))
        before = self.rules()
        self.g.stop()
        self.g.start()
        self.assertEqual(self.rules()["DomainRuleSet"], before["DomainRuleSet"])
        # a burst of changes, then kill -9
        self.ok(self.call("ModifyDomain", ListenerId=self.lid, OldDomain="www.example.com",
                          NewDomain="new.example"))
        second = self.new_rule("/b", domain="new.example")
        self.ok(self.bind(rule, [{"RealServerId": b, "RealServerIP": "10.0.0.2",
                                  "RealServerPort": 81}]))
        self.ok(self.call("ModifyRuleAttribute", ListenerId=self.lid, RuleId=second,
                          Scheduler="lc"))
        self.ok(self.call("CreateCustomHeader", RuleId=second,
                          Headers=[{"HeaderName": "X-B", "HeaderValue": "2"}]))
        answered = self.rules()["DomainRuleSet"]
        headers = self.ok(self.call("DescribeCustomHeader", RuleId=second))["Headers"]
        self.g.proc.send_signal(signal.SIGKILL)
        self.g.proc.wait(10)
        self.g.log.close()
        self.g.start()
        self.assertEqual(self.rules()["DomainRuleSet"], answered)
        self.assertEqual(self.ok(self.call("DescribeCustomHeader", RuleId=second))["Headers"],
                         headers)
        self.assertCode(self.call("RemoveRealServers", RealServerIds=[b]),
                        "FailedOperation.RealServerAlreadyBound")
        self.ok(self.call("RemoveRealServers", RealServerIds=[a]))


if __name__ == "__main__":
    unittest.main()
