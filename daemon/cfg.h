/* daemon/cfg.h - gaapd.yaml -> an immutable struct cfg (libyaml).
 * Ownership: cfg_load_*() returns a cfg the caller owns; cfg_destroy() frees it and everything in it
 *   (NULL-safe). Nothing inside is modified after load, so any thread may read a cfg it holds.
 * Errors: every rejected file names "file:line:col: key: reason" in the caller's buffer.
 * Paths: relative paths in the file are resolved against the file's directory at load time.
 */
#ifndef GAAPD_CFG_H
#define GAAPD_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CFG_ID_MAX 64           /* longest proxy/group id, with the NUL */

enum cfg_auth { CFG_AUTH_SIGNATURE, CFG_AUTH_NONE };
/* How a proxy's listeners spread requests over its origins. */
enum cfg_sched {
	CFG_SCHED_RR,               /* round robin, weights ignored */
	CFG_SCHED_WRR,              /* smooth weighted round robin */
	CFG_SCHED_LC,               /* fewest exchanges in flight per unit of weight */
};
#define CFG_WEIGHT_MAX 100
#define CFG_ORIGINS_MAX 256      /* per proxy */

#define CFG_ADDR_TEXT_MAX 262

struct cfg_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	/* as an operator would write it: 127.0.0.1:8080, [::1]:80; a real server's DNS name and
	 * port (no IP family then: upstream/ups.h): up to 253 + ":65535" */
	char text[CFG_ADDR_TEXT_MAX];
	unsigned weight;            /* origins: 1..CFG_WEIGHT_MAX (default 1); 0 elsewhere */
};

struct cfg_proxy {
	char id[CFG_ID_MAX];        /* link-xxxxxxxx */
	char status[24];            /* RUNNING, CLOSED, ISOLATED, ... (spec 2.1) */
	struct cfg_addr bind;       /* address its listeners bind; the port is unused (0) */
	unsigned max_listeners;
	struct cfg_addr *origins;   /* where its listeners forward, in configured order */
	size_t norigins;
	const char *group_id;       /* the group managing it, or NULL; points into cfg->groups */
	enum cfg_sched scheduler;
};

struct cfg_rate {
	char action[64];
	unsigned rate;
};

struct cfg_group {
	char id[CFG_ID_MAX];        /* lg-xxxxxxxx */
	char status[24];
	char (*proxies)[CFG_ID_MAX];
	size_t nproxies;
};

/* Data-plane limits and timeouts; milliseconds and bytes. */
struct cfg_http {
	unsigned client_header_timeout_ms;
	unsigned client_keepalive_timeout_ms;
	unsigned origin_connect_timeout_ms;
	unsigned origin_response_timeout_ms;
	unsigned max_header_size;
	unsigned drain_timeout_ms;  /* a deleted listener's connections finish within this */
	unsigned client_send_timeout_ms;    /* a client that takes no bytes for this long is cut */
	unsigned linger_timeout_ms;         /* after an error reply, unread input is drained so long */
	unsigned tunnel_idle_timeout_ms;    /* a WebSocket tunnel moving no byte for this long closes */
	unsigned origin_keepalive;          /* idle connections kept per origin per worker; 0 = none */
	unsigned origin_keepalive_timeout_ms;   /* an idle pooled origin connection is closed after */
	unsigned origin_max_fails;          /* consecutive failures that take an origin out ... */
	unsigned origin_fail_timeout_ms;    /* ... for this long */
	unsigned max_request_line;          /* method, target and version (then 414) */
	unsigned max_headers;               /* header lines in a request (then 431) */
	unsigned max_response_header_size;  /* an origin's response head (then 502) */
	size_t max_body_size;               /* a request body (then 413); 0 = no limit */
	unsigned max_connections_per_listener;  /* client connections; 0 = no limit */
	unsigned max_connections_per_worker;    /* client connections; 0 = no limit */
	char *access_log;                   /* NULL = off, "stderr", or an absolute path */
};

/* TLS (tls/tls.h): what a new HTTPS listener gets, and the node's TLS machinery. */
struct cfg_tls {
	unsigned default_versions;      /* TLS_V* bits of a new HTTPS listener (SetTlsVersion changes
	                                 * a listener's); default TLSv1.2 + TLSv1.3 */
	int default_ciphers;            /* enum tls_ciphers, likewise; default STRICT */
	unsigned handshake_timeout_ms;  /* a client's TLS handshake must complete within this */
	unsigned session_timeout_s;     /* a session (ticket or cache) is resumable this long */
	unsigned ticket_rotate_s;       /* a new session ticket key this often (the old ones still
	                                 * decrypt for session_timeout_s) */
	char *origin_ca;                /* PEM file that HTTPS real servers are verified against;
	                                 * NULL: not verified (§10) */
};

/* Where the state lives (issue 16). file: the journal in state_dir, the source of truth. etcd:
 * the fleet's store; state_dir keeps the local cache of the last state seen (store.h,
 * st_open_etcd). Only a restart changes it: a reload with another store section is refused. */
enum cfg_store_backend { CFG_STORE_FILE, CFG_STORE_ETCD };
#define CFG_ETCD_ENDPOINTS_MAX 16
struct cfg_store {
	enum cfg_store_backend backend;
	char **etcd_endpoints;          /* http://host:port, 1..CFG_ETCD_ENDPOINTS_MAX of them */
	size_t netcd_endpoints;
	char *etcd_prefix;              /* every key gaapd writes starts with it; default /gaapd, no
	                                 * trailing slash */
	unsigned etcd_dial_timeout_ms;  /* per endpoint tried; default 2000 */
	char *etcd_tls_ca, *etcd_tls_cert, *etcd_tls_key;   /* client TLS to etcd; NULL: plain */
};

struct cfg {
	char *path;                 /* the file it was loaded from */
	char *node_name;            /* node.name: unique in the fleet; default: the host name */
	unsigned workers;           /* 0 in the file = one per CPU; resolved here to >= 1 */
	char *state_dir;
	size_t state_compact_bytes; /* the state journal's compaction floor; 0 = the journal's default */
	int log_level;              /* enum log_level */
	char *log_file;             /* the event log; NULL = stderr (journald) */
	unsigned log_rate_burst;    /* lines per call site per interval; 0 = no limit (log.h) */
	unsigned log_rate_interval_ms;
	unsigned max_real_servers;  /* AddRealServers past it: LimitExceeded */
	unsigned resolver_valid_ms; /* real servers' DNS names are resolved again after this */
	unsigned resolver_timeout_ms;   /* one DNS query's timeout */
	/* Layer-7 limits (l7-and-https.md §1.3); the state machine refuses a change past them. */
	unsigned max_domains_per_listener;  /* CreateDomain: LimitExceeded */
	unsigned max_rules_per_listener;    /* CreateRule: FailedOperation.LimitNumofRules */
	unsigned max_bindings_per_rule;     /* BindRuleRealServers: LimitRealServerNum */
	unsigned max_headers_per_rule;      /* CreateCustomHeader: LimitExceeded */

	struct cfg_addr control_listen;
	struct cfg_addr metrics_listen; /* GET /metrics on its own address; len 0 = on control_listen */
	enum cfg_auth auth;
	char *credentials_file;
	unsigned rate_limit;        /* requests/second per action per SecretId (default for all) */
	struct cfg_rate *rate_limits;   /* per-action overrides of rate_limit */
	size_t nrate_limits;
	size_t max_request_size;    /* control API body limit, bytes */
	unsigned control_header_timeout_ms; /* a control request's whole head must arrive within */
	unsigned control_body_timeout_ms;   /* ... and then its whole body within */
	unsigned control_max_connections;   /* past it the longest idle control connection goes */
	size_t control_max_buffered_bodies; /* request bodies held for all control connections */
	unsigned v1_replay_limit;   /* v1 requests remembered against replay, per SecretId */
	uint16_t *reserved_ports;   /* never listener ports (besides the control port) */
	size_t nreserved_ports;

	struct cfg_http http;
	struct cfg_tls tls;
	struct cfg_store store;

	struct cfg_proxy *proxies;
	size_t nproxies;
	struct cfg_group *groups;
	size_t ngroups;
};

int cfg_load_file(const char *path, struct cfg **out, char *err, size_t errlen);
/* Parse text as if it were the file `name` living in directory `dir` (tests). */
int cfg_load_string(const char *text, const char *name, const char *dir,
	struct cfg **out, char *err, size_t errlen);
void cfg_destroy(struct cfg *c);

const struct cfg_proxy *cfg_find_proxy(const struct cfg *c, const char *id);
const struct cfg_group *cfg_find_group(const struct cfg *c, const char *id);
/* Requests/second allowed per SecretId for an action: its override or control.rate_limit. */
unsigned cfg_rate_limit(const struct cfg *c, const char *action);
/* The first of node.name and the store section's keys that differs between a and b ("node.name",
 * "store.backend", "store.etcd.endpoints" ...; the etcd ones only with backend etcd), or NULL:
 * only a restart changes them, since the store is opened once with them (a reload that changes
 * one is refused). */
const char *cfg_store_differs(const struct cfg *a, const struct cfg *b);
/* The control port and the configured reserved ports. */
int cfg_port_reserved(const struct cfg *c, unsigned port);

#endif
