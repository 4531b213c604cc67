"""gaapd -t checks a configuration file like nginx -t; a bad file stops the start with file:line."""
import os
import subprocess
import tempfile
import unittest

from harness import GAAPD, yaml_config

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def check(text):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "gaapd.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([GAAPD, "-t", "-c", path], capture_output=True, text=True, timeout=30)
        return r.returncode, r.stderr.replace(path, "FILE")


class ConfigCheck(unittest.TestCase):
    def test_the_shipped_default_configuration_is_valid(self):
        r = subprocess.run([GAAPD, "-t", "-c", os.path.join(REPO, "conf", "gaapd.yaml")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("test is successful", r.stderr)

    def test_a_generated_test_configuration_is_valid(self):
        self.assertEqual(check(yaml_config())[0], 0)

    def test_unknown_key_names_file_line_and_key(self):
        rc, err = check(yaml_config().replace("  workers: 2", "  workers: 2\n  wrokers: 3"))
        self.assertEqual(rc, 1)
        self.assertIn("FILE:3:", err)
        self.assertIn("wrokers", err)
        self.assertIn("test failed", err)

    def test_bad_value_names_the_key(self):
        rc, err = check(yaml_config().replace("auth: signature", "auth: maybe"))
        self.assertEqual(rc, 1)
        self.assertIn("control.auth", err)

    def test_auth_none_is_refused_off_loopback(self):
        rc, err = check(yaml_config(auth="none").replace("listen: 127.0.0.1:0", "listen: 0.0.0.0:9680"))
        self.assertEqual(rc, 1)
        self.assertIn("loopback", err)

    def test_a_bad_file_stops_the_start_too(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "gaapd.yaml")
            with open(path, "w") as f:
                f.write("node:\n  workers: many\n")
            r = subprocess.run([GAAPD, "-c", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(":2:", r.stderr)


if __name__ == "__main__":
    unittest.main()
