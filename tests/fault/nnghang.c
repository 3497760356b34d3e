/*
 * LD_PRELOAD shim for tests/integration/close_hang.sh: makes nng_close
 * never return, as nng 1.5.2's close sometimes does after a peer reset a
 * connection, so that the CLI's bounded close (cli/snowrange.c,
 * client_close) can be tested on demand.
 */
#include <nng/nng.h>
#include <unistd.h>

int
nng_close(nng_socket s)
{
	(void) s;
	for (;;)
		pause();
}
