/*
 * A quick look whether anything listens at an nng URL, so that a stopped
 * server is reported at once as refused instead of after a whole request
 * timeout: nng's dialer retries a refused connection quietly in the
 * background, and a request then only times out (docs/operating.md).
 */
#ifndef SR_PROBE_H
#define SR_PROBE_H

#include <stddef.h>

/*
 * Connects a plain socket to the address of url (tcp://, tls+tcp://,
 * tcp4/6://, ipc://) and closes it. SR_ECONNECT with a message when the
 * connection is refused or the ipc path does not exist; SR_OK otherwise,
 * including when the answer is unknown (a name that does not resolve, a
 * host that does not answer within timeout_ms, another transport): then
 * the real call decides.
 */
int wire_probe(const char *url, int timeout_ms, char *errbuf, size_t errlen);

#endif
