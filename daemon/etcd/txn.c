/* daemon/etcd/txn.c - transactions: compares, the two branches of ops, and their answers.
 * Threads: any but the client's (etcd_txn() is a synchronous call).
 */
#include <stdlib.h>
#include <string.h>

#include "etcd_int.h"

static json_t *cmp_json(const struct etcd_cmp *k)
{
	static const char *const targets[] = { "VALUE", "VERSION", "CREATE", "MOD" };
	static const char *const fields[] = { "value", "version", "create_revision",
		"mod_revision" };
	static const char *const ops[] = { "EQUAL", "NOT_EQUAL", "LESS", "GREATER" };
	json_t *j = json_object();
	int rc = j == NULL || etcd_set_key(j, "key", k->key) != 0
		|| json_object_set_new(j, "target", json_string(targets[k->target])) != 0
		|| json_object_set_new(j, "result", json_string(ops[k->op])) != 0;
	if (rc == 0 && k->target == ETCD_VALUE) {
		char *v = etcd_b64(k->value != NULL ? k->value : "", k->vlen);
		rc = v == NULL || json_object_set_new(j, "value", json_string(v)) != 0;
		free(v);
	} else if (rc == 0) {
		rc = etcd_set_i64(j, fields[k->target], k->num) != 0;
	}
	if (rc != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *op_json(const struct etcd_op *o)
{
	static const char *const names[] = { "request_put", "request_delete_range",
		"request_range" };
	json_t *r = json_object(), *j = json_object();
	int rc = r == NULL || j == NULL || json_object_set(j, names[o->type], r) != 0;
	if (rc == 0 && o->type == ETCD_OP_PUT) {
		char *v = etcd_b64(o->value != NULL ? o->value : "", o->vlen);
		rc = v == NULL || etcd_set_key(r, "key", o->key) != 0
			|| json_object_set_new(r, "value", json_string(v)) != 0
			|| (o->lease != 0 && etcd_set_i64(r, "lease", o->lease) != 0);
		free(v);
	} else if (rc == 0) {
		rc = etcd_set_range(r, o->key, o->match) != 0;
	}
	json_decref(r);
	if (rc != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int check(const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ops, size_t n,
	struct etcd_status *st)
{
	for (size_t i = 0; i < ncmp; i++)
		if (cmp[i].key == NULL || (unsigned)cmp[i].target > ETCD_MOD_REV
				|| (unsigned)cmp[i].op > ETCD_GT) {
			etcd_st_set(st, ETCD_E_INVAL, "etcd txn: compare %zu: no key, or an unknown "
				"target or operator", i);
			return -1;
		}
	for (size_t i = 0; i < n; i++)
		if (ops[i].key == NULL || (unsigned)ops[i].type > ETCD_OP_RANGE) {
			etcd_st_set(st, ETCD_E_INVAL, "etcd txn: op %zu: no key, or an unknown type", i);
			return -1;
		}
	return 0;
}

static int add_ops(json_t *req, const char *name, const struct etcd_op *ops, size_t n)
{
	json_t *a = json_array();
	if (a == NULL || json_object_set_new(req, name, a) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(a, op_json(&ops[i])) != 0)
			return -1;
	return 0;
}

static json_t *txn_json(const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ok,
	size_t nok, const struct etcd_op *fail, size_t nfail)
{
	json_t *req = json_object(), *a = json_array();
	if (req == NULL || a == NULL || json_object_set_new(req, "compare", a) != 0)
		goto bad;
	for (size_t i = 0; i < ncmp; i++)
		if (json_array_append_new(a, cmp_json(&cmp[i])) != 0)
			goto bad;
	if (add_ops(req, "success", ok, nok) != 0 || add_ops(req, "failure", fail, nfail) != 0)
		goto bad;
	return req;
bad:
	if (req == NULL)
		json_decref(a);
	json_decref(req);
	return NULL;
}

/* The answers of the branch that ran, one per op (range answers' kvs; others empty). */
static int responses(const json_t *resp, struct etcd_txn_out *out)
{
	const json_t *a = json_object_get(resp, "responses");
	size_t n = json_array_size(a);
	if (n == 0)
		return 0;
	if ((out->ranges = calloc(n, sizeof *out->ranges)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const json_t *r = json_object_get(json_array_get(a, i), "response_range");
		if (r != NULL && etcd_kvs_from(r, &out->ranges[i]) != 0)
			return -1;
		out->nranges++;
	}
	return 0;
}

void etcd_txn_out_free(struct etcd_txn_out *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nranges; i++)
		etcd_kvs_free(&t->ranges[i]);
	free(t->ranges);
	memset(t, 0, sizeof *t);
}

int etcd_txn(struct etcd *c, const struct etcd_cmp *cmp, size_t ncmp,
	const struct etcd_op *ok, size_t nok, const struct etcd_op *fail, size_t nfail,
	struct etcd_txn_out *out, struct etcd_status *st)
{
	json_t *req, *resp;
	memset(out, 0, sizeof *out);
	if (check(cmp, ncmp, ok, nok, st) != 0 || check(NULL, 0, fail, nfail, st) != 0)
		return -1;
	if ((req = txn_json(cmp, ncmp, ok, nok, fail, nfail)) == NULL)
		return etcd_nomem(NULL, st);
	if (etcd_call(c, "/v3/kv/txn", req, false, &resp, st) != 0)
		return -1;
	out->succeeded = json_is_true(json_object_get(resp, "succeeded"));
	out->revision = etcd_i64(json_object_get(resp, "header"), "revision");
	if (responses(resp, out) != 0) {
		etcd_txn_out_free(out);
		return etcd_bad_answer(resp, "txn", st);
	}
	json_decref(resp);
	return 0;
}
