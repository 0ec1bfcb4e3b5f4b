/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/* list.h: the intrusive list every daemon object uses, and DEFINE_CLEANUP(). */

#include <check.h>
#include <stdlib.h>

#include "list.h"
#include "macro.h"
#include "test-util.h"

typedef struct Item {
        int value;
        List link;
} Item;

static int n_freed;

static Item *item_free(Item *i) {
        if (i) {
                list_unlink(&i->link);
                free(i);
                n_freed++;
        }
        return NULL;
}
DEFINE_CLEANUP(Item, item_free);

static Item *item_new(int value) {
        Item *i = calloc(1, sizeof(*i));

        ck_assert_ptr_nonnull(i);
        i->value = value;
        list_init(&i->link);
        return i;
}

static int sum(List *head, int *ret_count) {
        Item *i;
        int total = 0, count = 0;

        LIST_FOREACH(i, head, Item, link) {
                total = total * 10 + i->value;
                count++;
        }
        *ret_count = count;
        return total;
}

START_TEST(test_order_and_unlink) {
        List head = LIST_INIT(head);
        Item *a = item_new(1), *b = item_new(2), *c = item_new(3);
        int count;

        ck_assert(list_is_empty(&head));
        ck_assert_ptr_null(LIST_FIRST(&head, Item, link));
        list_append(&head, &b->link);
        list_append(&head, &c->link);
        list_prepend(&head, &a->link);
        ck_assert_int_eq(sum(&head, &count), 123);
        ck_assert_int_eq(count, 3);
        ck_assert_ptr_eq(LIST_FIRST(&head, Item, link), a);

        /* The middle entry unlinks itself without knowing the head; twice is harmless. */
        list_unlink(&b->link);
        ck_assert(!list_is_linked(&b->link));
        list_unlink(&b->link);
        ck_assert_int_eq(sum(&head, &count), 13);
        ck_assert_int_eq(count, 2);

        n_freed = 0;
        item_free(b);
        Item *i;
        LIST_FOREACH_SAFE(i, next, &head, Item, link)
                item_free(i);
        ck_assert(list_is_empty(&head));
        ck_assert_int_eq(n_freed, 3);
}
END_TEST

START_TEST(test_splice) {
        List a = LIST_INIT(a), b = LIST_INIT(b);
        Item *x = item_new(1), *y = item_new(2), *z = item_new(3);
        Item *i;
        int count;

        /* An empty list moves nothing. */
        list_splice_tail(&a, &b);
        ck_assert(list_is_empty(&a) && list_is_empty(&b));

        list_append(&a, &x->link);
        list_append(&b, &y->link);
        list_append(&b, &z->link);
        list_splice_tail(&a, &b);
        ck_assert(list_is_empty(&b));
        ck_assert_int_eq(sum(&a, &count), 123);
        ck_assert_int_eq(count, 3);
        /* Into an empty list: the entries keep their order, and still unlink themselves. */
        list_splice_tail(&b, &a);
        ck_assert(list_is_empty(&a));
        ck_assert_int_eq(sum(&b, &count), 123);
        list_unlink(&y->link);
        ck_assert_int_eq(sum(&b, &count), 13);

        n_freed = 0;
        item_free(y);
        LIST_FOREACH_SAFE(i, next, &b, Item, link)
                item_free(i);
        ck_assert(list_is_empty(&b));
        ck_assert_int_eq(n_freed, 3);
}
END_TEST

START_TEST(test_cleanup) {
        List head = LIST_INIT(head);

        n_freed = 0;
        {
                _cleanup_(item_freep) Item *i = item_new(7);
                list_append(&head, &i->link);
                _cleanup_(item_freep) Item *none = NULL;
                (void) none;
        }
        /* The entry was freed and, in freeing, left the list. */
        ck_assert_int_eq(n_freed, 1);
        ck_assert(list_is_empty(&head));
        {
                _cleanup_(item_freep) Item *kept = item_new(8);
                Item *taken = TAKE_PTR(kept);
                ck_assert_ptr_null(kept);
                item_free(taken);
        }
        ck_assert_int_eq(n_freed, 2);
}
END_TEST

int main(void) {
        TCase *tc;
        Suite *s = test_suite("list", 0, NULL, NULL, &tc);

        tcase_add_test(tc, test_order_and_unlink);
        tcase_add_test(tc, test_splice);
        tcase_add_test(tc, test_cleanup);
        return suite_run(s, NULL);
}
