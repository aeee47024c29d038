/* graph.c - allocation of immutable graphs; see graph.h.
 * Threads: control and event threads only (never RT). */
#include "graph.h"

#include <stdlib.h>

struct graph *graph_new(uint32_t n_nodes)
{
	struct graph *g = calloc(1, sizeof(*g) + (size_t)n_nodes * sizeof(struct graph_node));

	if (g)
		g->n_nodes = n_nodes;
	return g;
}

void graph_free(struct graph *g)
{
	free(g);
}
