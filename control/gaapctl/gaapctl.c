/* control/gaapctl/gaapctl.c - the command-line client: one API 3.0 call, signed with TC3 by the
 * same code that verifies signatures in gaapd (sign.c), the answer printed as JSON.
 * Exit status: 0 success, 1 the API answered an error (its code on stderr), 2 usage or transport.
 */
#include <errno.h>
#include <jansson.h>
#include <llhttp.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "req.h"
#include "sign.h"

#define API_VERSION "2018-05-29"
#define MAX_RESPONSE (16u << 20)

struct opts {
	const char *endpoint;
	const char *secret_id, *secret_key;
	const char *credentials, *profile;
	const char *language;
	int timeout_s;
	const char *get;            /* --get: print only this member of the answer */
	const char *action;
	json_t *params;
};

/* Parameters the API types as integers (spec 2.x); booleans (IsDefaultServer) are "true"/"false";
 * everything else given as --Name value is a string, and a value starting with '[' or '{' is JSON
 * (objects and lists of objects: CheckParams, RealServerBindSet, Headers). */
static const char *const integer_params[] = {
	"Port", "Offset", "Limit", "Force", "ProjectId", "AuthType", "Http3Supported",
	"HealthCheck", "RealServerPort", "RealServerWeight", "Independent", "CertificateType",
};

/* Parameters whose value may be a file's content: `--CertificateContent @cert.pem` (PEM files,
 * as CreateCertificate takes them raw). */
static const char *const file_params[] = { "CertificateContent", "CertificateKey" };

/* Parameters the API types as arrays of strings: `--ListenerIds a,b` sends ["a","b"]. */
static const char *const string_array_params[] = {
	"ListenerIds", "ProxyIds", "InstanceIds", "RealServerIds", "RealServerIP", "RuleIds",
	"PolyClientCertificateIds", "TLSSupportVersion",
};

static const char *const bool_params[] = { "IsDefaultServer" };

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gaapctl [options] ACTION [--Param value ...] [--json '{...}']\n"
		"  e.g. gaapctl CreateHTTPListener --ProxyId link-cuxw2rm0 --ListenerName listener-1 --Port 8081\n"
		"       gaapctl DeleteListeners --ProxyId link-cuxw2rm0 --ListenerIds listener-a,listener-b --Force 0\n"
		"       gaapctl AddRealServers --ProjectId 0 --RealServerIP 10.0.0.1,10.0.0.2 --RealServerName web\n"
		"       gaapctl CreateDomain --ListenerId listener-a --Domain www.example.com --IsDefaultServer true\n"
		"       gaapctl CreateRule --ListenerId listener-a --Domain www.example.com --Path /api \\\n"
		"               --RealServerType IP --Scheduler wrr --HealthCheck 1 --CheckParams '{\"Path\":\"/health\"}'\n"
		"       gaapctl BindRuleRealServers --RuleId rule-a \\\n"
		"               --RealServerBindSet '[{\"RealServerId\":\"rs-a\",\"RealServerIP\":\"10.0.0.1\",\"RealServerPort\":80}]'\n"
		"       gaapctl CreateCustomHeader --RuleId rule-a --Headers '[{\"HeaderName\":\"X-Via\",\"HeaderValue\":\"gaap\"}]'\n"
		"       gaapctl DescribeRules --ListenerId listener-a\n"
		"       gaapctl CreateCertificate --CertificateType 2 --CertificateContent @cert.pem \\\n"
		"               --CertificateKey @key.pem --CertificateAlias site\n"
		"       gaapctl CreateHTTPSListener --ProxyId link-cuxw2rm0 --ListenerName web --Port 443 \\\n"
		"               --CertificateId cert-a --ForwardProtocol HTTP\n"
		"options:\n"
		"  --endpoint HOST:PORT    the control address (default $GAAPD_ENDPOINT or 127.0.0.1:9680)\n"
		"  --secret-id ID --secret-key KEY\n"
		"                          credentials (default: $TENCENTCLOUD_SECRET_ID/KEY, then the file)\n"
		"  --credentials FILE      credentials file (default $GAAPD_CREDENTIALS, ./var/lib/gaapd/credentials,\n"
		"                          /var/lib/gaapd/credentials, ~/.tencentcloud/credentials)\n"
		"  --profile NAME          section of the credentials file (default: default)\n"
		"  --language zh-CN|en-US  language of error messages\n"
		"  --timeout SECONDS       give up after this long (default 30)\n"
		"  --get PATH              print only that member of the answer, a string as it is:\n"
		"                          --get RuleId, --get RealServerSet.0.RealServerId\n");
}

static int is_integer_param(const char *name)
{
	for (size_t i = 0; i < sizeof(integer_params) / sizeof(integer_params[0]); i++)
		if (strcmp(integer_params[i], name) == 0)
			return 1;
	return 0;
}

static int is_string_array_param(const char *name)
{
	for (size_t i = 0; i < sizeof(string_array_params) / sizeof(string_array_params[0]); i++)
		if (strcmp(string_array_params[i], name) == 0)
			return 1;
	return 0;
}

/* "a,b" -> ["a","b"]; "" -> []. */
static json_t *split_list(const char *v)
{
	json_t *a = json_array();
	while (a != NULL && *v != '\0') {
		size_t len = strcspn(v, ",");
		if (json_array_append_new(a, json_stringn(v, len)) != 0) {
			json_decref(a);
			return NULL;
		}
		v += len + (v[len] == ',');
	}
	return a;
}

static int is_bool_param(const char *name)
{
	for (size_t i = 0; i < sizeof(bool_params) / sizeof(bool_params[0]); i++)
		if (strcmp(bool_params[i], name) == 0)
			return 1;
	return 0;
}

/* The whole content of path as a JSON string; NULL (said why) when it cannot be read. */
static json_t *file_value(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	json_t *j = NULL;
	if (fp == NULL) {
		fprintf(stderr, "gaapctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	do {
		char *b = len + 4096 > cap ? realloc(buf, cap = cap * 2 + 4096) : buf;
		if (b == NULL)
			break;
		buf = b;
		len += n = fread(buf + len, 1, cap - len, fp);
	} while (n > 0);
	if (buf != NULL && !ferror(fp))
		j = json_stringn(buf, len);
	fclose(fp);
	free(buf);
	return j;
}

static int is_file_param(const char *name)
{
	for (size_t i = 0; i < sizeof(file_params) / sizeof(file_params[0]); i++)
		if (strcmp(file_params[i], name) == 0)
			return 1;
	return 0;
}

static json_t *param_value(const char *name, const char *v)
{
	char *end;
	if (v[0] == '@' && is_file_param(name))
		return file_value(v + 1);
	if (v[0] == '[' || v[0] == '{')
		return json_loads(v, 0, NULL);
	if (is_bool_param(name) && (strcmp(v, "true") == 0 || strcmp(v, "false") == 0))
		return json_boolean(v[0] == 't');
	if (is_string_array_param(name))
		return split_list(v);
	if (is_integer_param(name)) {
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno == 0 && end != v && *end == '\0')
			return json_integer(n);
	}
	return json_string(v);
}

static int set_option(struct opts *o, const char *name, const char *v)
{
	if (strcmp(name, "endpoint") == 0) o->endpoint = v;
	else if (strcmp(name, "secret-id") == 0) o->secret_id = v;
	else if (strcmp(name, "secret-key") == 0) o->secret_key = v;
	else if (strcmp(name, "credentials") == 0) o->credentials = v;
	else if (strcmp(name, "profile") == 0) o->profile = v;
	else if (strcmp(name, "language") == 0) o->language = v;
	else if (strcmp(name, "timeout") == 0) o->timeout_s = atoi(v);
	else if (strcmp(name, "get") == 0) o->get = v;
	else return -1;
	return 0;
}

static int merge_json(struct opts *o, const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!json_is_object(j)) {
		fprintf(stderr, "gaapctl: --json: %s\n", j ? "not a JSON object" : je.text);
		json_decref(j);
		return -1;
	}
	json_object_update(o->params, j);
	json_decref(j);
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strncmp(a, "--", 2) != 0) {
			if (o->action != NULL)
				return -1;
			o->action = a;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "gaapctl: %s needs a value\n", a);
			return -1;
		}
		const char *v = argv[++i];
		if (strcmp(a + 2, "json") == 0) {
			if (merge_json(o, v) != 0)
				return -1;
		} else if (a[2] >= 'A' && a[2] <= 'Z') {
			json_t *jv = param_value(a + 2, v);
			if (jv == NULL || json_object_set_new(o->params, a + 2, jv) != 0) {
				fprintf(stderr, "gaapctl: %s: invalid JSON value\n", a);
				return -1;
			}
		} else if (set_option(o, a + 2, v) != 0) {
			fprintf(stderr, "gaapctl: unknown option %s\n", a);
			return -1;
		}
	}
	return o->action != NULL ? 0 : -1;
}

static const char *default_credentials(char *buf, size_t len)
{
	const char *env = getenv("GAAPD_CREDENTIALS"), *home = getenv("HOME");
	if (env != NULL)
		return env;
	if (access("var/lib/gaapd/credentials", R_OK) == 0)
		return "var/lib/gaapd/credentials";
	if (access("/var/lib/gaapd/credentials", R_OK) == 0)
		return "/var/lib/gaapd/credentials";
	snprintf(buf, len, "%s/.tencentcloud/credentials", home ? home : "");
	return buf;
}

/* Flags, then the environment, then the credentials file: the SDKs' order. */
static int load_key(struct opts *o, struct ctl_creds **creds)
{
	char path[4096], err[512];
	if (o->secret_id != NULL && o->secret_key != NULL)
		return 0;
	o->secret_id = getenv("TENCENTCLOUD_SECRET_ID");
	o->secret_key = getenv("TENCENTCLOUD_SECRET_KEY");
	if (o->secret_id != NULL && o->secret_key != NULL)
		return 0;
	const char *file = o->credentials ? o->credentials : default_credentials(path, sizeof(path));
	if (ctl_creds_load(file, creds, err, sizeof(err)) != 0) {
		fprintf(stderr, "gaapctl: no credentials: %s\n", err);
		return -1;
	}
	const struct ctl_cred *c = ctl_creds_section(*creds, o->profile ? o->profile : "default");
	if (c == NULL) {
		fprintf(stderr, "gaapctl: %s has no [%s] section\n", file, o->profile ? o->profile : "default");
		return -1;
	}
	o->secret_id = c->secret_id;
	o->secret_key = c->secret_key;
	return 0;
}

static int split_endpoint(const char *endpoint, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(endpoint, ':');
	const char *h = endpoint;
	size_t n;
	if (colon == NULL || colon[1] == '\0')
		return -1;
	n = (size_t)(colon - endpoint);
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {     /* [::1]:9680 */
		h++;
		n -= 2;
	}
	if (n == 0 || n >= hlen || strlen(colon + 1) >= plen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, plen, "%s", colon + 1);
	return 0;
}

static int wait_fd(int fd, short events, int timeout_s)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc = poll(&p, 1, timeout_s * 1000);
	if (rc == 0)
		errno = ETIMEDOUT;
	return rc > 0 ? 0 : -1;
}

static int dial(const struct opts *o)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int fd = -1;
	if (split_endpoint(o->endpoint, host, sizeof(host), port, sizeof(port)) != 0) {
		fprintf(stderr, "gaapctl: bad endpoint %s (want HOST:PORT)\n", o->endpoint);
		return -1;
	}
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "gaapctl: %s: %s\n", o->endpoint, gai_strerror(gai));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0 &&
	    (errno != EINPROGRESS || wait_fd(fd, POLLOUT, o->timeout_s) != 0)) {
		close(fd);
		fd = -1;
	}
	int soerr = 0;
	socklen_t slen = sizeof(soerr);
	if (fd >= 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) != 0 || soerr != 0)) {
		errno = soerr;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fprintf(stderr, "gaapctl: connect %s: %s\n", o->endpoint, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/* The signed request, as the Python and Go SDKs send it: POST JSON, host with its port. */
static char *build_request(const struct opts *o, const char *body)
{
	struct ctl_req r = { .method = "POST" };
	char ts[24], date[11], sig[65], authz[1024], lang[64] = "", *canon = NULL, *out = NULL;
	time_t now = time(NULL);
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	ctl_utc_date(now, date);
	if (o->language != NULL)
		snprintf(lang, sizeof(lang), "X-TC-Language: %s\r\n", o->language);
	ctl_req_set_target(&r, strdup("/"));
	r.body = (char *)body;
	r.body_len = strlen(body);
	if (ctl_req_add_header(&r, "Content-Type", 12, "application/json", 16) != 0 ||
	    ctl_req_add_header(&r, "Host", 4, o->endpoint, strlen(o->endpoint)) != 0 ||
	    (canon = ctl_tc3_canonical(&r, "content-type;host", 1)) == NULL ||
	    ctl_tc3_sign(o->secret_key, date, "gaap", ts, canon, sig) != 0 ||
	    ctl_tc3_authorization(o->secret_id, date, "gaap", "content-type;host", sig,
	    authz, sizeof(authz)) != 0)
		goto out;
	if (asprintf(&out, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	    "X-TC-Action: %s\r\nX-TC-Version: " API_VERSION "\r\nX-TC-Timestamp: %s\r\n%s"
	    "X-TC-RequestClient: gaapctl\r\nAuthorization: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    o->endpoint, o->action, ts, lang, authz, strlen(body), body) < 0)
		out = NULL;
out:
	r.body = NULL;          /* borrowed */
	ctl_req_reset(&r);
	free(canon);
	return out;
}

static int send_all(int fd, const char *p, size_t len, int timeout_s)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, timeout_s) != 0)
				return -1;
			continue;
		}
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

struct response {
	char *body;
	size_t len;
	int done;
};

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct response *r = p->data;
	if (r->len + len > MAX_RESPONSE)
		return -1;
	char *b = realloc(r->body, r->len + len + 1);
	if (b == NULL)
		return -1;
	memcpy(b + r->len, at, len);
	r->body = b;
	r->len += len;
	r->body[r->len] = '\0';
	return 0;
}

static int on_complete(llhttp_t *p)
{
	struct response *r = p->data;
	if (p->status_code / 100 == 1)
		return 0;       /* 100 Continue: the real answer follows */
	r->done = 1;
	return HPE_PAUSED;
}

static int read_response(int fd, int timeout_s, struct response *r)
{
	llhttp_settings_t s;
	llhttp_t p;
	char buf[16384];
	llhttp_settings_init(&s);
	s.on_body = on_body;
	s.on_message_complete = on_complete;
	llhttp_init(&p, HTTP_RESPONSE, &s);
	p.data = r;
	while (!r->done) {
		if (wait_fd(fd, POLLIN, timeout_s) != 0)
			return -1;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		enum llhttp_errno e = n > 0 ? llhttp_execute(&p, buf, (size_t)n) :
			n == 0 ? llhttp_finish(&p) : HPE_USER;
		if (r->done)
			break;
		if (e != HPE_OK || n <= 0) {
			errno = n < 0 ? errno : EPROTO;
			return -1;
		}
	}
	return p.status_code == 200 ? 0 : (errno = EPROTO, -1);
}

/* The member of resp at a dotted path ("RuleId", "RealServerSet.0.RealServerId"), or NULL. */
static json_t *member(json_t *resp, const char *path)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k != NULL && resp != NULL;
	     k = strtok_r(NULL, ".", &save)) {
		char *end;
		unsigned long i = strtoul(k, &end, 10);
		resp = json_is_array(resp) && *end == '\0' && end != k ? json_array_get(resp, i) :
			json_object_get(resp, k);
	}
	return resp;
}

/* --get: a string as it is (for shell variables), anything else as compact JSON. 2 if absent. */
static int print_member(json_t *resp, const char *path)
{
	json_t *v = member(resp, path);
	if (v == NULL) {
		fprintf(stderr, "gaapctl: the answer has no %s\n", path);
		return 2;
	}
	if (json_is_string(v))
		fputs(json_string_value(v), stdout);
	else
		json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	return 0;
}

/* Print the answer (or its member get); exit status 0 for a success, 1 for an API error. */
static int report(const char *body, const char *get)
{
	json_t *doc = json_loads(body, 0, NULL);
	json_t *resp = json_object_get(doc, "Response");
	json_t *error = json_object_get(resp, "Error");
	int rc = 0;
	if (!json_is_object(resp)) {
		fprintf(stderr, "gaapctl: the answer is not an API 3.0 response: %s\n", body);
		rc = 2;
	} else if (error != NULL) {
		fprintf(stderr, "gaapctl: %s: %s (RequestId %s)\n",
			json_string_value(json_object_get(error, "Code")),
			json_string_value(json_object_get(error, "Message")),
			json_string_value(json_object_get(resp, "RequestId")));
		rc = 1;
	}
	if (rc == 0 && get != NULL) {
		rc = print_member(resp, get);
	} else if (rc != 2) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	}
	json_decref(doc);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { .timeout_s = 30, .params = json_object() };
	struct ctl_creds *creds = NULL;
	struct response resp = { 0 };
	char *body = NULL, *request = NULL;
	int fd = -1, rc = 2;
	o.endpoint = getenv("GAAPD_ENDPOINT") ? getenv("GAAPD_ENDPOINT") : "127.0.0.1:9680";
	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		goto out;
	}
	if (load_key(&o, &creds) != 0 ||
	    (body = json_dumps(o.params, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL ||
	    (request = build_request(&o, body)) == NULL || (fd = dial(&o)) < 0)
		goto out;
	if (send_all(fd, request, strlen(request), o.timeout_s) != 0 ||
	    read_response(fd, o.timeout_s, &resp) != 0) {
		fprintf(stderr, "gaapctl: %s: %s\n", o.endpoint, strerror(errno));
		goto out;
	}
	rc = report(resp.body ? resp.body : "", o.get);
out:
	if (fd >= 0)
		close(fd);
	free(resp.body);
	free(request);
	free(body);
	ctl_creds_destroy(creds);
	json_decref(o.params);
	return rc;
}
