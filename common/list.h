/* SPDX-License-Identifier: Apache-2.0 OR MIT */
#pragma once

/*
 * An intrusive, circular, doubly linked list. A List is embedded both as the
 * head (in the owner) and as the link (in each entry), so that an entry
 * unlinks itself in O(1) without knowing which list holds it, and unlinking
 * twice is harmless: an unlinked node points at itself. That is what lets a
 * destructor "deregister from the next bigger object" in one line.
 *
 *      typedef struct Job { List link; ... } Job;
 *      List jobs = LIST_INIT(jobs);
 *      list_append(&jobs, &job->link);
 *      LIST_FOREACH_SAFE(j, next, &jobs, Job, link) job_free(j);
 */

#include <stdbool.h>
#include <stddef.h>

typedef struct List {
        struct List *prev, *next;
} List;

#define LIST_INIT(name) { &(name), &(name) }

static inline void list_init(List *l) {
        l->prev = l->next = l;
}

/* Whether @l (a head) has no entries, or (a link) is in no list. */
static inline bool list_is_empty(const List *l) {
        return l->next == l;
}

static inline bool list_is_linked(const List *node) {
        return node->next != node;
}

static inline void list_insert_before(List *where, List *node) {
        node->prev = where->prev;
        node->next = where;
        where->prev->next = node;
        where->prev = node;
}

static inline void list_append(List *head, List *node) {
        list_insert_before(head, node);
}

static inline void list_prepend(List *head, List *node) {
        list_insert_before(head->next, node);
}

/* Unlinks @node from whatever list holds it; a node in no list is left alone. */
static inline void list_unlink(List *node) {
        node->prev->next = node->next;
        node->next->prev = node->prev;
        list_init(node);
}

/* Moves every entry of @from to the end of @to, in order; @from is left empty. */
static inline void list_splice_tail(List *to, List *from) {
        if (list_is_empty(from))
                return;
        from->next->prev = to->prev;
        to->prev->next = from->next;
        from->prev->next = to;
        to->prev = from->prev;
        list_init(from);
}

#define LIST_ENTRY(node, type, member) ((type *) (void *) ((char *) (node) - offsetof(type, member)))

/* The first entry of @head, or NULL when it is empty. */
#define LIST_FIRST(head, type, member) \
        (list_is_empty(head) ? NULL : LIST_ENTRY((head)->next, type, member))

/* Iterates over @head; the body may unlink (or free) the current entry. */
#define LIST_FOREACH_SAFE(var, nextvar, head, type, member)                                      \
        for (List *nextvar = (var = NULL, (head)->next), *_cur_##var;                            \
             (_cur_##var = nextvar) != (head) &&                                                 \
             (nextvar = _cur_##var->next, var = LIST_ENTRY(_cur_##var, type, member), 1);)

#define LIST_FOREACH(var, head, type, member) \
        for (List *_n_##var = (head)->next; _n_##var != (head) && ((var = LIST_ENTRY(_n_##var, type, member)), 1); \
             _n_##var = _n_##var->next)
