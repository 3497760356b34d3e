/*
 * The backend-independent part of the store interface (store.h): releasing
 * what load() returned. Every backend fills struct store_state with malloc'd
 * arrays, so one function frees them all.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

void
store_state_free(struct store_state *s)
{
	if (s == NULL)
		return;
	free(s->seqs);
	free(s->nodes);
	free(s->workers);
	free(s->eras);
	/* Zeroed, a freed state is an empty one: freeing it again is harmless. */
	memset(s, 0, sizeof *s);
}
