/* control/errors.c - the code and default messages of each enum ctl_err (errors.h), the message
 * language, and the UTF-8 hygiene that lets any message go into a JSON string. */
#include "errors.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *code;
	const char *en;
	const char *zh;
} table[] = {
#define CTL_ERR_ROW(name, code, en, zh) [CTL_E_##name] = { code, en, zh },
	CTL_ERRORS(CTL_ERR_ROW)
#undef CTL_ERR_ROW
};

const char *ctl_err_code(enum ctl_err e)
{
	return (unsigned)e < CTL_E__COUNT ? table[e].code : table[CTL_E_INTERNAL_ERROR].code;
}

const char *ctl_err_message_in(enum ctl_err e, enum ctl_lang lang)
{
	if ((unsigned)e >= CTL_E__COUNT)
		e = CTL_E_INTERNAL_ERROR;
	return lang == CTL_LANG_ZH_CN ? table[e].zh : table[e].en;
}

const char *ctl_err_message(enum ctl_err e)
{
	return ctl_err_message_in(e, CTL_LANG_EN_US);
}

int ctl_lang_parse(const char *s, enum ctl_lang *out)
{
	if (s == NULL || *s == '\0' || strcasecmp(s, "en-US") == 0) {
		*out = CTL_LANG_EN_US;
		return 0;
	}
	if (strcasecmp(s, "zh-CN") == 0) {
		*out = CTL_LANG_ZH_CN;
		return 0;
	}
	return -1;
}

/* 1 when s starts a sequence that the end of the string cuts short (a buffer was too small). */
static int cut_at_end(const unsigned char *s)
{
	size_t need = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 :
		s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	size_t i = 1;
	while (i < need && (s[i] & 0xc0) == 0x80)
		i++;
	return need > 0 && i < need && s[i] == '\0';
}

void ctl_utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p != '\0') {
		size_t len = util_utf8_seq(p);
		if (len > 0) {
			p += len;
		} else if (cut_at_end(p)) {
			*p = '\0';
			return;
		} else {
			*p++ = '?';
		}
	}
}

void ctl_err_text(enum ctl_err e, enum ctl_lang lang, const char *detail, char *out, size_t outlen)
{
	int has_detail = detail != NULL && *detail != '\0';
	if (outlen == 0)
		return;
	if (!has_detail)
		snprintf(out, outlen, "%s", ctl_err_message_in(e, lang));
	else if (lang == CTL_LANG_ZH_CN)
		snprintf(out, outlen, "%s(%s)", ctl_err_message_in(e, lang), detail);
	else
		snprintf(out, outlen, "%s", detail);
	ctl_utf8_clean(out);
}
