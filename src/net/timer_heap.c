/* net/timer_heap.c — see timer_heap.h.
 *
 * Layout: every node points to its leftmost child and its right sibling;
 * `prev` is the left sibling, or the parent for a leftmost child, or NULL
 * for the root. Deletion of the minimum melds the root's children in two
 * passes (left to right in pairs, then right to left), the classic
 * pairing-heap rule that gives the amortized bound.
 */
#include "net/timer_heap.h"

#include <assert.h>
#include <stddef.h>

/* Melds two roots (either may be NULL); returns the new root. */
static net_timer *meld(net_timer *a, net_timer *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (b->deadline_ms < a->deadline_ms) {
        net_timer *t = a;
        a = b;
        b = t;
    }
    b->prev = a;
    b->sibling = a->child;
    if (a->child)
        a->child->prev = b;
    a->child = b;
    a->sibling = a->prev = NULL;
    return a;
}

/* Melds a list of siblings into one heap. */
static net_timer *merge_pairs(net_timer *first)
{
    net_timer *pairs = NULL; /* melded pairs, last first, linked by sibling */
    while (first) {
        net_timer *a = first, *b = first->sibling;
        first = b ? b->sibling : NULL;
        a->sibling = a->prev = NULL;
        if (b)
            b->sibling = b->prev = NULL;
        net_timer *m = meld(a, b);
        m->sibling = pairs;
        pairs = m;
    }
    net_timer *root = NULL;
    while (pairs) {
        net_timer *next = pairs->sibling;
        pairs->sibling = NULL;
        root = meld(root, pairs);
        pairs = next;
    }
    return root;
}

void timer_heap_insert(net_timer **root, net_timer *t)
{
    assert(!t->armed);
    t->child = t->sibling = t->prev = NULL;
    t->armed = true;
    *root = meld(*root, t);
}

void timer_heap_remove(net_timer **root, net_timer *t)
{
    assert(t->armed);
    if (t == *root) {
        *root = merge_pairs(t->child);
    } else {
        if (t->prev->child == t)
            t->prev->child = t->sibling;
        else
            t->prev->sibling = t->sibling;
        if (t->sibling)
            t->sibling->prev = t->prev;
        *root = meld(*root, merge_pairs(t->child));
    }
    t->child = t->sibling = t->prev = NULL;
    t->armed = false;
}
