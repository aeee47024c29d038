/* graph.c - allocation of immutable graphs; see graph.h.
 * Threads: control and event threads only (never RT). */
#include "graph.h"

#include <stdlib.h>

struct graph *graph_new(uint32_t n_nodes, uint32_t n_minus)
{
	size_t nodes = sizeof(struct graph) + (size_t)n_nodes * sizeof(struct graph_node);
	struct graph *g = calloc(1, nodes + (size_t)n_minus * sizeof(struct tap *));

	if (!g)
		return NULL;
	g->n_nodes = n_nodes;
	g->n_minus = n_minus;
	g->minus = n_minus ? (struct tap **)((char *)g + nodes) : NULL;
	return g;
}

void graph_free(struct graph *g)
{
	free(g);
}
