/* tests/unit/test_tls_cert.c - daemon/tls/cert.c: what CreateCertificate accepts and refuses
 * (§7.1) and which names a server certificate covers (§3.1), over certificates the openssl CLI
 * makes into a temp dir: RSA 2048, ECDSA P-256, RSA 1024 (refused at security level 2), a chain
 * in and out of order, a wrong key, an encrypted key, bad PEM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls/tls.h"
#include "test_files.h"

static char dir[64];

static char *slurp(const char *name)
{
	return tf_slurp(dir, name);
}

/* ca (EC root), inter (signed by ca), ec (leaf of inter, SANs), rsa (RSA 2048 self-signed, CN
 * only), weak (RSA 1024), enc (ec's key encrypted), other (an unrelated key). */
static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/test_tls_cert_%ld", (long)getpid());
	tf_sh("mkdir -p %s", dir);
	tf_sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		"-keyout ca.key -out ca.pem -days 2 -subj /CN=Root 2>/dev/null", dir);
	tf_sh("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
		"inter.key -out inter.csr -subj /CN=Inter 2>/dev/null && printf "
		"'basicConstraints=critical,CA:true\\n' > inter.ext && openssl x509 -req -in inter.csr "
		"-CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile inter.ext -out inter.pem "
		"2>/dev/null", dir);
	tf_sh("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key "
		"-out ec.csr -subj '/O=Test/CN=ec.test' 2>/dev/null && printf "
		"'subjectAltName=DNS:www.a.test,DNS:*.b.test\\n' > ec.ext && openssl x509 -req -in "
		"ec.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 2 -extfile ec.ext -out "
		"ec.pem 2>/dev/null && cat ec.pem inter.pem > chain.pem && cat inter.pem ec.pem > "
		"badorder.pem", dir);
	tf_sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem "
		"-days 2 -subj /CN=Rsa.Test 2>/dev/null", dir);
	tf_sh("cd %s && openssl req -x509 -newkey rsa:1024 -nodes -keyout weak.key -out weak.pem "
		"-days 2 -subj /CN=weak.test 2>/dev/null", dir);
	tf_sh("cd %s && openssl pkey -in ec.key -aes256 -passout pass:secret -out enc.key "
		"2>/dev/null && openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out "
		"other.key 2>/dev/null && openssl ec -in ec.key -out ec_sec1.key 2>/dev/null", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tf_sh("rm -rf %s", dir);
	return 0;
}

static enum tls_cert_err check(int type, const char *cert, const char *key,
	struct tls_cert_info *info)
{
	char *c = slurp(cert), *k = key != NULL ? slurp(key) : NULL, err[256];
	enum tls_cert_err e = tls_cert_check(type, c, k, info, err, sizeof err);
	if (e == TLS_CERT_OK)
		assert_string_equal(err, "");
	else
		assert_true(err[0] != '\0');
	free(c);
	free(k);
	return e;
}

static void test_server_certs(void **state)
{
	struct tls_cert_info info;
	time_t now = time(NULL);
	(void)state;
	assert_int_equal(check(TLS_CERT_SERVER, "chain.pem", "ec.key", &info), TLS_CERT_OK);
	assert_int_equal(info.x509, 1);
	assert_string_equal(info.subject_cn, "ec.test");
	assert_string_equal(info.issuer_cn, "Inter");
	assert_true(info.begin <= now && info.end > now && info.end - info.begin > 86400);
	assert_int_equal(check(TLS_CERT_SERVER, "ec.pem", "ec_sec1.key", &info), TLS_CERT_OK);
	assert_int_equal(check(TLS_CERT_SERVER, "rsa.pem", "rsa.key", &info), TLS_CERT_OK);
	assert_string_equal(info.issuer_cn, "Rsa.Test");
	assert_int_equal(check(TLS_CERT_GAAP, "rsa.pem", "rsa.key", &info), TLS_CERT_OK);
}

static void test_server_refusals(void **state)
{
	struct tls_cert_info info;
	(void)state;
	assert_int_equal(check(TLS_CERT_SERVER, "weak.pem", "weak.key", &info),
		TLS_CERT_E_CONTENT);
	assert_int_equal(check(TLS_CERT_SERVER, "badorder.pem", "ec.key", &info),
		TLS_CERT_E_CONTENT);
	assert_int_equal(check(TLS_CERT_SERVER, "ec.pem", "other.key", &info), TLS_CERT_E_MISMATCH);
	assert_int_equal(check(TLS_CERT_SERVER, "rsa.pem", "ec.key", &info), TLS_CERT_E_MISMATCH);
	assert_int_equal(check(TLS_CERT_SERVER, "ec.pem", "enc.key", &info), TLS_CERT_E_KEY);
	assert_int_equal(check(TLS_CERT_SERVER, "ec.pem", NULL, &info), TLS_CERT_E_KEY);
	assert_int_equal(check(TLS_CERT_SERVER, "ec.pem", "ec.pem", &info), TLS_CERT_E_KEY);
	assert_int_equal(check(TLS_CERT_SERVER, "ec.key", "ec.key", &info), TLS_CERT_E_CONTENT);
	assert_int_equal(check(5, "ec.pem", "ec.key", &info), TLS_CERT_E_PARAM);
	assert_int_equal(check(-1, "ec.pem", NULL, &info), TLS_CERT_E_PARAM);
}

static void test_bad_pem(void **state)
{
	struct tls_cert_info info;
	char err[128], *c = slurp("ec.pem"), *p;
	(void)state;
	assert_int_equal(tls_cert_check(1, "hello", NULL, &info, err, sizeof err),
		TLS_CERT_E_CONTENT);
	assert_int_equal(tls_cert_check(1, "", NULL, &info, err, sizeof err), TLS_CERT_E_CONTENT);
	p = strstr(c, "\n") + 5;            /* the base64 broken inside */
	*p = '#';
	assert_int_equal(tls_cert_check(1, c, NULL, &info, err, sizeof err), TLS_CERT_E_CONTENT);
	free(c);
	c = slurp("ec.pem");
	p = strstr(c, "\n") + 1;            /* a valid PEM block of garbage DER */
	memcpy(p, "AAAA", 4);
	assert_int_equal(tls_cert_check(3, c, NULL, &info, err, sizeof err), TLS_CERT_E_CONTENT);
	free(c);
}

static void test_ca_and_basic(void **state)
{
	struct tls_cert_info info;
	char err[128], *c = slurp("ca.pem"), *k = slurp("ca.key");
	(void)state;
	assert_int_equal(tls_cert_check(1, c, NULL, &info, err, sizeof err), TLS_CERT_OK);
	assert_string_equal(info.subject_cn, "Root");
	assert_int_equal(tls_cert_check(3, c, NULL, &info, err, sizeof err), TLS_CERT_OK);
	assert_int_equal(tls_cert_check(1, c, k, &info, err, sizeof err), TLS_CERT_E_PARAM);
	assert_null(strstr(err, "BEGIN"));
	assert_int_equal(tls_cert_check(0, "user:$apr1$x$y\nbob:{SHA}abc=\n", NULL, &info, err,
		sizeof err), TLS_CERT_OK);
	assert_int_equal(info.x509, 0);
	assert_int_equal(tls_cert_check(0, "nocolon\n", NULL, &info, err, sizeof err),
		TLS_CERT_E_CONTENT);
	assert_int_equal(tls_cert_check(0, "a:b", "k", &info, err, sizeof err), TLS_CERT_E_PARAM);
	assert_int_equal(tls_cert_check(0, "\n\n", NULL, &info, err, sizeof err),
		TLS_CERT_E_CONTENT);
	free(c);
	free(k);
}

static void test_covers(void **state)
{
	char *ec = slurp("ec.pem"), *rsa = slurp("rsa.pem");
	(void)state;
	assert_true(tls_cert_covers(ec, "www.a.test"));
	assert_true(tls_cert_covers(ec, "WWW.A.Test"));
	assert_true(tls_cert_covers(ec, "x.b.test"));
	assert_false(tls_cert_covers(ec, "b.test"));
	assert_false(tls_cert_covers(ec, "y.x.b.test"));
	assert_false(tls_cert_covers(ec, "ec.test"));       /* SANs present: CN not looked at */
	assert_false(tls_cert_covers(ec, "a.test"));
	assert_true(tls_cert_covers(rsa, "rsa.test"));      /* no SAN: the CN */
	assert_false(tls_cert_covers(rsa, "x.rsa.test"));
	assert_false(tls_cert_covers("garbage", "rsa.test"));
	free(ec);
	free(rsa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_certs),
		cmocka_unit_test(test_server_refusals),
		cmocka_unit_test(test_bad_pem),
		cmocka_unit_test(test_ca_and_basic),
		cmocka_unit_test(test_covers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
