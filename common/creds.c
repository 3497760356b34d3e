/*
 * Credentials: the token file, role lookup and choice, local-URL rule.
 * File formats and the threat model are in docs/security.md.
 */
#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snowrange/error.h"
#include "util.h"

static void
fmt(char *buf, size_t len, const char *f, ...)
{
	if (buf == NULL || len == 0)
		return;
	va_list ap;
	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
}

static const struct {
	const char *name;
	unsigned bit;
} role_names[] = {
    {"node", CREDS_NODE},
    {"client", CREDS_CLIENT},
    {"reader", CREDS_READER},
    {"admin", CREDS_ADMIN},
};
#define NROLES (sizeof(role_names) / sizeof(role_names[0]))

unsigned
creds_role_of(const char *name)
{
	for (size_t i = 0; i < NROLES; i++)
		if (strcmp(name, role_names[i].name) == 0)
			return role_names[i].bit;
	return 0;
}

const char *
creds_roles_str(unsigned roles, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NROLES; i++) {
		if ((roles & role_names[i].bit) == 0)
			continue;
		int n =
		    snprintf(buf + off, len - off, "%s%s", off ? " or " : "", role_names[i].name);
		if (n < 0 || (size_t) n >= len - off)
			break;
		off += (size_t) n;
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
	return buf;
}

static char *
dup_or_null(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return NULL;
	return strdup(s);
}

int
creds_read_file(const char *path, char **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fmt(errbuf, errlen, "cannot open %s: %s", path, strerror(errno));
		return SR_EINVAL;
	}
	char *buf = malloc(CREDS_FILE_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		return SR_ENOMEM;
	}
	size_t n = fread(buf, 1, CREDS_FILE_MAX + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || n > CREDS_FILE_MAX) {
		fmt(errbuf, errlen, bad ? "cannot read %s" : "%s is larger than %u bytes", path,
		    CREDS_FILE_MAX);
		free(buf);
		return SR_EINVAL;
	}
	buf[n] = '\0';
	*out = buf;
	return SR_OK;
}

static bool
token_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    ch == '_' || ch == '-' || ch == '.' || ch == '+' || ch == '/' || ch == '=';
}

/* Compares a and b (both n bytes) in time independent of their contents. */
static unsigned
ct_diff(const char *a, const char *b, size_t n)
{
	unsigned d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char) a[i] ^ (unsigned char) b[i];
	return d;
}

int
creds_parse_tokens(struct creds *c, const char *text, const char *what, char *errbuf, size_t errlen)
{
	int line = 0;
	const char *p = text;
	while (*p != '\0') {
		line++;
		const char *end = strchr(p, '\n');
		size_t n = end != NULL ? (size_t) (end - p) : strlen(p);
		char buf[CREDS_TOKEN_MAX + CREDS_NAME_MAX + 64];
		if (n >= sizeof(buf)) {
			fmt(errbuf, errlen, "%s line %d: line too long", what, line);
			return SR_EINVAL;
		}
		memcpy(buf, p, n);
		buf[n] = '\0';
		p = end != NULL ? end + 1 : p + n;
		if (n > 0 && buf[n - 1] == '\r')
			buf[--n] = '\0';
		char *s = buf;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		char *role = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		if (*s != '\0')
			*s++ = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		char *tok = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		char *rest = s;
		if (*rest != '\0')
			*rest++ = '\0';
		while (*rest == ' ' || *rest == '\t')
			rest++;
		if (*rest != '\0' && *rest != '#') {
			fmt(errbuf, errlen, "%s line %d: expected \"ROLE[:NODE] TOKEN\"", what,
			    line);
			return SR_EINVAL;
		}
		struct creds_token t = {0};
		char *colon = strchr(role, ':');
		if (colon != NULL)
			*colon++ = '\0';
		t.role = creds_role_of(role);
		if (t.role == 0) {
			fmt(errbuf, errlen,
			    "%s line %d: unknown role '%.16s' "
			    "(node, admin, reader or client)",
			    what, line, role);
			return SR_EINVAL;
		}
		if (colon != NULL) {
			if (t.role != CREDS_NODE || !sr_name_valid(colon)) {
				fmt(errbuf, errlen,
				    "%s line %d: only node:NAME binds a "
				    "name, and NAME must be [a-z0-9_.-]{1,64}",
				    what, line);
				return SR_EINVAL;
			}
			sr_strlcpy(t.node, colon, sizeof(t.node));
		}
		t.len = strlen(tok);
		bool ok = t.len >= CREDS_TOKEN_MIN && t.len <= CREDS_TOKEN_MAX;
		for (size_t i = 0; ok && i < t.len; i++)
			ok = token_char(tok[i]);
		if (!ok) {
			/* Never echo the token: it may be a real one mistyped. */
			fmt(errbuf, errlen,
			    "%s line %d: a token is %d to %d characters "
			    "of [A-Za-z0-9_.+/=-]",
			    what, line, CREDS_TOKEN_MIN, CREDS_TOKEN_MAX);
			return SR_EINVAL;
		}
		memcpy(t.token, tok, t.len);
		for (size_t i = 0; i < c->ntokens; i++)
			if (c->tokens[i].len == t.len &&
			    memcmp(c->tokens[i].token, t.token, t.len) == 0) {
				fmt(errbuf, errlen,
				    "%s line %d: the same token is on an "
				    "earlier line; every role needs its own",
				    what, line);
				return SR_EINVAL;
			}
		struct creds_token *v = realloc(c->tokens, (c->ntokens + 1) * sizeof(*v));
		if (v == NULL)
			return SR_ENOMEM;
		c->tokens = v;
		c->tokens[c->ntokens++] = t;
	}
	return SR_OK;
}

int
creds_load(const sr_credentials *in, struct creds **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	struct creds *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SR_ENOMEM;
	if (in == NULL) {
		*out = c;
		return SR_OK;
	}
	c->tls_cert = dup_or_null(in->tls_cert);
	c->tls_key = dup_or_null(in->tls_key);
	c->tls_ca = dup_or_null(in->tls_ca);
	if ((in->tls_cert && in->tls_cert[0] && !c->tls_cert) ||
	    (in->tls_key && in->tls_key[0] && !c->tls_key) ||
	    (in->tls_ca && in->tls_ca[0] && !c->tls_ca)) {
		creds_free(c);
		return SR_ENOMEM;
	}
	if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
		fmt(errbuf, errlen, "tls-cert and tls-key go together: give both or neither");
		creds_free(c);
		return SR_EINVAL;
	}
	if (in->token_file != NULL && in->token_file[0] != '\0') {
		const char *path = in->token_file;
		struct stat sb;
		if (stat(path, &sb) != 0) {
			fmt(errbuf, errlen, "token file %s: %s", path, strerror(errno));
			creds_free(c);
			return SR_EINVAL;
		}
		/* Like ssh with a private key: a token others can read is a
		 * token others have. */
		if ((sb.st_mode & 077) != 0) {
			fmt(errbuf, errlen,
			    "token file %s is readable or writable by "
			    "other users (mode %04o): chmod 600 it",
			    path, (unsigned) (sb.st_mode & 07777));
			creds_free(c);
			return SR_EINVAL;
		}
		char *text;
		int rv = creds_read_file(path, &text, errbuf, errlen);
		if (rv == SR_OK) {
			rv = creds_parse_tokens(c, text, path, errbuf, errlen);
			/* Wipe the copy: tokens live only in c from here. */
			memset(text, 0, strlen(text));
			free(text);
		}
		if (rv == SR_OK && c->ntokens == 0) {
			fmt(errbuf, errlen, "token file %s has no tokens", path);
			rv = SR_EINVAL;
		}
		if (rv != SR_OK) {
			creds_free(c);
			return rv;
		}
	}
	*out = c;
	return SR_OK;
}

void
creds_free(struct creds *c)
{
	if (c == NULL)
		return;
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_ca);
	if (c->tokens != NULL)
		memset(c->tokens, 0, c->ntokens * sizeof(*c->tokens));
	free(c->tokens);
	free(c);
}

bool
creds_has_tokens(const struct creds *c)
{
	return c != NULL && c->ntokens > 0;
}

bool
creds_authenticates(const struct creds *c)
{
	return c != NULL && ((c->tls_cert != NULL && c->tls_ca != NULL) || c->ntokens > 0);
}

bool
creds_any(const struct creds *c)
{
	return c != NULL && (c->tls_cert != NULL || c->tls_ca != NULL || c->ntokens > 0);
}

unsigned
creds_lookup(const struct creds *c, const char *token, size_t len, char *node)
{
	unsigned role = 0;
	node[0] = '\0';
	if (c == NULL || token == NULL || len < CREDS_TOKEN_MIN || len > CREDS_TOKEN_MAX)
		return 0;
	/* Every line is compared over the whole presented token, and the
	 * match is recorded without branching on where bytes differ: the
	 * time taken tells an attacker nothing about a token's prefix. */
	for (size_t i = 0; i < c->ntokens; i++) {
		const struct creds_token *t = &c->tokens[i];
		char padded[CREDS_TOKEN_MAX];
		memset(padded, 0, sizeof(padded));
		memcpy(padded, t->token, t->len);
		unsigned d = ct_diff(padded, token, len) | (unsigned) (t->len ^ len);
		/* mask is all ones when d == 0, else 0. */
		unsigned mask = (unsigned) (((uint64_t) d - 1) >> 32) & 1u;
		mask = 0u - mask;
		role |= t->role & mask;
		if (mask != 0)
			sr_strlcpy(node, t->node, CREDS_NAME_MAX + 1);
	}
	return role;
}

bool
creds_cert_allows(unsigned cert_role, unsigned token_roles)
{
	/* An admin may do what readers and clients may (the route tables
	 * list admin wherever they list those), so an operator holding an
	 * admin certificate may send the least powerful token that fits. */
	unsigned covers =
	    cert_role == CREDS_ADMIN ? CREDS_ADMIN | CREDS_READER | CREDS_CLIENT : cert_role;
	return token_roles != 0 && (token_roles & ~covers) == 0;
}

const char *
creds_pick(const struct creds *c, unsigned accept, unsigned want, const char *node_name)
{
	if (c == NULL)
		return NULL;
	unsigned ok = accept & want;
	/* Least powerful first: a reader token for a status call, not admin. */
	static const unsigned order[] = {CREDS_NODE, CREDS_READER, CREDS_CLIENT, CREDS_ADMIN};
	for (size_t r = 0; r < sizeof(order) / sizeof(order[0]); r++) {
		if ((ok & order[r]) == 0)
			continue;
		const char *any = NULL;
		for (size_t i = 0; i < c->ntokens; i++) {
			const struct creds_token *t = &c->tokens[i];
			if (t->role != order[r])
				continue;
			if (t->node[0] == '\0') {
				if (any == NULL)
					any = t->token;
			} else if (node_name != NULL && strcmp(t->node, node_name) == 0) {
				return t->token;
			}
		}
		if (any != NULL)
			return any;
	}
	return NULL;
}

/* The part after "scheme://", or NULL when the scheme is not tcp-like. */
static const char *
tcp_rest(const char *url)
{
	static const char *schemes[] = {"tcp://", "tcp4://", "tcp6://", "tls+tcp://", "tls+tcp4://",
	    "tls+tcp6://"};
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);
		if (strncmp(url, schemes[i], n) == 0)
			return url + n;
	}
	return NULL;
}

bool
creds_url_tls(const char *url)
{
	return url != NULL && strncmp(url, "tls+", 4) == 0;
}

bool
creds_url_host(const char *url, char *buf, size_t len)
{
	buf[0] = '\0';
	const char *r = url != NULL ? tcp_rest(url) : NULL;
	if (r == NULL)
		return true;
	const char *end;
	if (r[0] == '[') {
		r++;
		end = strchr(r, ']');
	} else {
		end = strrchr(r, ':');
	}
	if (end == NULL)
		end = r + strlen(r);
	size_t n = (size_t) (end - r);
	if (n >= len)
		return false;
	memcpy(buf, r, n);
	buf[n] = '\0';
	return true;
}

bool
creds_url_local(const char *url)
{
	if (url == NULL)
		return false;
	if (strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0 ||
	    strncmp(url, "abstract://", 11) == 0)
		return true;
	if (tcp_rest(url) == NULL)
		return false;
	char host[256];
	if (!creds_url_host(url, host, sizeof(host)))
		return false;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return true;
	/* 127.0.0.0/8, written as four decimal parts. */
	unsigned a, b, c, d;
	char tail;
	return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
	    c < 256 && d < 256;
}
