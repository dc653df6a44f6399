/* group/assignor_sticky.c — "cooperative-sticky", Java's
 * CooperativeStickyAssignor: AbstractStickyAssignor's balanced, sticky
 * assignment, then the cooperative adjustment of KIP-429.
 *
 * 1. Claims. Every member lists what it owns (with the generation of that
 *    list). A claim counts for stickiness only when the topic is known, the
 *    partition exists and the member still subscribes to the topic; when
 *    several members claim one partition, the one with the highest
 *    generation keeps it, and a tie at the highest generation means nobody
 *    does (as Java: "claimed by multiple consumers in the same generation").
 * 2. Assignment, as Java does it:
 *    - every member subscribes to the same topics (the common case):
 *      ConstrainedAssignmentBuilder. With P partitions and m members each
 *      gets P/m or P/m+1 (exactly P%m of them the larger share); a member
 *      keeps what it validly owns up to its share (its owned partitions in
 *      (partition, topic) order, as Java picks them; members visited in
 *      the order of Java's HashMap, see java_map_order()), then the rest are
 *      dealt round-robin in (topic, partition) order to the members below
 *      their share, sorted by member id.
 *    - otherwise (the general case; simpler than Java's GeneralAssignment
 *      Builder, same guarantees): members keep what they validly own; the
 *      free partitions, those with the fewest possible owners first, go to
 *      the subscriber with the fewest partitions; then partitions move, the
 *      newly given ones first, from a member to a subscriber of their topic
 *      with at least two fewer, until no such move exists (each move lowers
 *      the sum of squared counts, so this ends). The result is Java's
 *      notion of balanced: no member has two more than another member that
 *      could take one of its partitions.
 * 3. Cooperative adjustment: a partition given to a member other than its
 *    valid owner (step 1) while some other member still claims it is left
 *    out this round (that member revokes it, and the follow-up rebalance
 *    hands it over). The valid owner keeps what it holds even if a stale
 *    claimant lists it too (it is consuming it already). This withholds
 *    what Java withholds in both of its builders (and, in the general case,
 *    also a partition given back to a claimant that lost the generation
 *    tie-break, which Java hands over at once), so no partition goes to a
 *    new owner while another member may still be consuming it.
 *
 * Partitions are numbered as in assignor_ctx.h; the per-partition state is
 * a handful of arrays of P entries. The constrained case runs in
 * O(P + M*owned*log + M^2) and handles 1000 members x 10000 partitions in
 * milliseconds; the general case is O(P*M) per balancing sweep.
 */
#include "group/assignor_ctx.h"

#include <stdlib.h>
#include <string.h>

typedef struct sticky {
    assignor_ctx c;
    size_t P;           /* c.n_partitions */
    int32_t *owner;     /* per partition: the member that keeps it (valid claim), -1 */
    int32_t *best_gen;  /* per partition: generation of owner's claim */
    uint8_t *tie;       /* per partition: the best generation is claimed twice */
    uint32_t *nclaim;   /* per partition: members claiming it at all */
    int32_t *claimer;   /* per partition: the last member claiming it */
    int32_t *assigned;  /* per partition: the new owner, -1 */
    size_t *count;      /* per member: partitions in the new assignment */
} sticky;

static void sticky_fini(sticky *s)
{
    free(s->owner);
    free(s->best_gen);
    free(s->tie);
    free(s->nclaim);
    free(s->claimer);
    free(s->assigned);
    free(s->count);
    assignor_ctx_fini(&s->c);
}

static gregor_err sticky_init(sticky *s, const assignor_member *members, size_t n_members,
                              const assignor_topic *topics, size_t n_topics)
{
    memset(s, 0, sizeof *s);
    gregor_err err = assignor_ctx_init(&s->c, members, n_members, topics, n_topics);
    if (err != GREGOR_OK)
        return err;
    if (n_members > INT32_MAX)
        return GREGOR_ERR_INVALID_ARG;
    size_t P = s->P = s->c.n_partitions, n = P ? P : 1;
    s->owner = malloc(n * sizeof *s->owner);
    s->best_gen = calloc(n, sizeof *s->best_gen);
    s->tie = calloc(n, sizeof *s->tie);
    s->nclaim = calloc(n, sizeof *s->nclaim);
    s->claimer = malloc(n * sizeof *s->claimer);
    s->assigned = malloc(n * sizeof *s->assigned);
    s->count = calloc(n_members ? n_members : 1, sizeof *s->count);
    if (!s->owner || !s->best_gen || !s->tie || !s->nclaim || !s->claimer || !s->assigned || !s->count)
        return GREGOR_ERR_NOMEM;
    for (size_t g = 0; g < P; g++)
        s->owner[g] = s->claimer[g] = s->assigned[g] = -1;
    return GREGOR_OK;
}

/* Step 1: the claims of every member. */
static void sticky_claims(sticky *s)
{
    const assignor_ctx *c = &s->c;
    for (size_t i = 0; i < c->n_members; i++) {
        const assignor_member *m = &c->members[i];
        for (size_t k = 0; k < m->owned.n; k++) {
            const group_tp *tp = &m->owned.tps[k];
            long t = tp->topic ? assignor_ctx_topic(c, tp->topic) : -1;
            if (t < 0 || tp->partition < 0 || tp->partition >= c->topics[t]->partitions)
                continue;
            size_t g = c->first[t] + (size_t)tp->partition;
            if (s->claimer[g] == (int32_t)i)
                continue; /* listed twice by the same member */
            s->nclaim[g]++;
            s->claimer[g] = (int32_t)i;
            if (!assignor_ctx_subscribes(c, i, (size_t)t))
                continue;
            if (s->owner[g] < 0) {
                s->owner[g] = (int32_t)i;
                s->best_gen[g] = m->generation;
            } else if (m->generation > s->best_gen[g]) {
                s->owner[g] = (int32_t)i;
                s->best_gen[g] = m->generation;
                s->tie[g] = 0;
            } else if (m->generation == s->best_gen[g]) {
                s->tie[g] = 1;
            }
        }
    }
    for (size_t g = 0; g < s->P; g++)
        if (s->tie[g])
            s->owner[g] = -1;
}

static void give(sticky *s, size_t g, size_t member)
{
    s->assigned[g] = (int32_t)member;
    s->count[member]++;
}

/* ---- every member subscribes to the same topics ---- */

typedef struct owned_ref {
    int32_t partition;
    size_t topic;
    size_t g;
} owned_ref;

static int owned_ref_cmp(const void *a, const void *b)
{
    const owned_ref *x = a, *y = b;
    if (x->partition != y->partition)
        return (x->partition > y->partition) - (x->partition < y->partition);
    return (x->topic > y->topic) - (x->topic < y->topic);
}

/* Java sorts its unfilled lists by member id (plain strings). qsort has no
 * context argument, so the sort keys are the ids themselves. */
typedef struct id_ref {
    const char *id;
    size_t i;
} id_ref;

static int id_ref_cmp(const void *a, const void *b)
{
    const id_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

static gregor_err sort_by_member_id(const sticky *s, size_t *v, size_t n)
{
    id_ref *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return GREGOR_ERR_NOMEM;
    for (size_t k = 0; k < n; k++)
        r[k] = (id_ref){s->c.members[v[k]].member_id, v[k]};
    qsort(r, n, sizeof *r, id_ref_cmp);
    for (size_t k = 0; k < n; k++)
        v[k] = r[k].i;
    free(r);
    return GREGOR_OK;
}

/* Keeps up to `quota` of member i's valid owned partitions, the first in
 * (partition, topic) order as Java picks them (its assignOwnedPartitions).
 * `mine` holds the member's owned partition numbers, `buf` room for them. */
static void keep_owned(sticky *s, size_t i, const size_t *mine, size_t n, size_t quota, owned_ref *buf)
{
    for (size_t k = 0; k < n; k++) {
        size_t t = assignor_ctx_topic_of(&s->c, mine[k]);
        buf[k] = (owned_ref){(int32_t)(mine[k] - s->c.first[t]), t, mine[k]};
    }
    qsort(buf, n, sizeof *buf, owned_ref_cmp);
    for (size_t k = 0; k < n && k < quota; k++)
        give(s, buf[k].g, i);
}

/* Java's String.hashCode() of a UTF-8 member id: 31*h + c over its UTF-16
 * code units, in int32 arithmetic. */
static uint32_t java_string_hash(const char *utf8)
{
    const unsigned char *p = (const unsigned char *)utf8;
    uint32_t h = 0;
    while (*p) {
        uint32_t cp = *p++;
        int more = cp >= 0xF0 ? 3 : cp >= 0xE0 ? 2 : cp >= 0xC0 ? 1 : 0;
        cp &= more == 3 ? 0x07 : more == 2 ? 0x0F : more == 1 ? 0x1F : 0xFF;
        for (; more > 0 && (*p & 0xC0) == 0x80; more--)
            cp = cp << 6 | (*p++ & 0x3F);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31 * h + (0xD800 | (cp >> 10));
            h = 31 * h + (0xDC00 | (cp & 0x3FF));
        } else {
            h = 31 * h + cp;
        }
    }
    return h;
}

typedef struct bucket_ref {
    uint32_t bucket;
    size_t i;
} bucket_ref;

static int bucket_ref_cmp(const void *a, const void *b)
{
    const bucket_ref *x = a, *y = b;
    if (x->bucket != y->bucket)
        return (x->bucket > y->bucket) - (x->bucket < y->bucket);
    return (x->i > y->i) - (x->i < y->i);
}

/* The order in which Java's ConstrainedAssignmentBuilder visits the members:
 * that of a java.util.HashMap keyed by member id, filled in the caller's
 * order (the JoinGroup response's): by bucket, (h ^ h >>> 16) & (capacity
 * - 1), capacity the power of two >= 16 that holds them at load factor
 * 0.75, then by insertion. Who keeps the larger share when several could
 * depends on it, so matching it makes a gregor leader agree with a Java one
 * (up to buckets long enough to become trees, 8+ ids colliding). */
static gregor_err java_map_order(const assignor_ctx *c, size_t *order)
{
    size_t cap = 16;
    while (c->n_members > cap / 4 * 3)
        cap *= 2;
    bucket_ref *r = malloc((c->n_members ? c->n_members : 1) * sizeof *r);
    if (!r)
        return GREGOR_ERR_NOMEM;
    for (size_t i = 0; i < c->n_members; i++) {
        uint32_t h = java_string_hash(c->members[i].member_id);
        r[i] = (bucket_ref){(uint32_t)((h ^ (h >> 16)) & (cap - 1)), i};
    }
    qsort(r, c->n_members, sizeof *r, bucket_ref_cmp);
    for (size_t i = 0; i < c->n_members; i++)
        order[i] = r[i].i;
    free(r);
    return GREGOR_OK;
}

static gregor_err assign_constrained(sticky *s)
{
    const assignor_ctx *c = &s->c;
    size_t m = c->n_members;
    const size_t *common = c->subs[0];
    size_t n_common = c->n_subs[0], P = 0;
    for (size_t k = 0; k < n_common; k++)
        P += (size_t)c->topics[common[k]]->partitions;
    size_t min_q = P / m, max_q = (P + m - 1) / m, expected_over = P % m, over = 0;

    gregor_err err = GREGOR_ERR_NOMEM;
    size_t *start = calloc(m + 1, sizeof *start); /* member i's claims: by_owner[start[i]..start[i+1]) */
    size_t *by_owner = malloc((s->P ? s->P : 1) * sizeof *by_owner);
    size_t *under = malloc(m * sizeof *under), n_under = 0;
    size_t *exact = malloc(m * sizeof *exact), exact_head = 0, exact_tail = 0;
    /* a member's owned list, scratch (at most its valid claims) */
    owned_ref *buf = malloc((s->P ? s->P : 1) * sizeof *buf);
    size_t *visit = malloc(m * sizeof *visit);
    if (!start || !by_owner || !under || !exact || !buf || !visit || java_map_order(c, visit) != GREGOR_OK)
        goto out;
    for (size_t g = 0; g < s->P; g++)
        if (s->owner[g] >= 0)
            start[s->owner[g] + 1]++;
    for (size_t i = 0; i < m; i++)
        start[i + 1] += start[i];
    for (size_t i = 0; i < m; i++) /* `under` serves as fill cursors until it is the list */
        under[i] = start[i];
    for (size_t g = 0; g < s->P; g++)
        if (s->owner[g] >= 0)
            by_owner[under[s->owner[g]]++] = g;

    for (size_t k = 0; k < m; k++) {
        size_t i = visit[k], n = start[i + 1] - start[i];
        const size_t *mine = &by_owner[start[i]];
        if (n < min_q) {
            keep_owned(s, i, mine, n, n, buf);
            under[n_under++] = i;
        } else if (n >= max_q && over < expected_over) {
            keep_owned(s, i, mine, n, max_q, buf);
            if (++over == expected_over)
                exact_head = exact_tail = 0;
        } else {
            keep_owned(s, i, mine, n, min_q, buf);
            if (over < expected_over)
                exact[exact_tail++] = i;
        }
    }
    if (sort_by_member_id(s, under, n_under) != GREGOR_OK ||
        sort_by_member_id(s, exact + exact_head, exact_tail - exact_head) != GREGOR_OK)
        goto out;

    /* Java's assignRoundRobin: the unassigned partitions in (topic,
     * partition) order, dealt over the members under their minimum share,
     * then to those at exactly the minimum until enough have the maximum. */
    size_t it = 0;
    err = GREGOR_OK;
    for (size_t k = 0; k < n_common && err == GREGOR_OK; k++) {
        size_t t = common[k];
        for (size_t g = c->first[t]; g < c->first[t + 1]; g++) {
            if (s->assigned[g] >= 0)
                continue;
            size_t i;
            bool from_under = true;
            if (it < n_under) {
                i = under[it++];
            } else if (n_under == 0 && exact_head == exact_tail) {
                err = GREGOR_ERR_STATE; /* the shares do not add up: a bug */
                break;
            } else if (n_under == 0) {
                i = exact[exact_head++];
                from_under = false;
            } else {
                it = 0;
                i = under[it++];
            }
            give(s, g, i);
            if (s->count[i] == min_q && from_under) {
                memmove(&under[it - 1], &under[it], (n_under - it) * sizeof *under);
                n_under--;
                it--;
                /* exact has room: each member enters it at most once */
                exact[exact_tail++] = i;
            } else if (s->count[i] == max_q) {
                over++;
            }
        }
    }
out:
    free(start);
    free(by_owner);
    free(under);
    free(exact);
    free(buf);
    free(visit);
    return err;
}

/* ---- members with different subscriptions ---- */

typedef struct free_ref {
    size_t n_subscribers; /* possible owners of its topic */
    size_t g;
} free_ref;

static int free_ref_cmp(const void *a, const void *b)
{
    const free_ref *x = a, *y = b;
    if (x->n_subscribers != y->n_subscribers)
        return (x->n_subscribers > y->n_subscribers) - (x->n_subscribers < y->n_subscribers);
    return (x->g > y->g) - (x->g < y->g);
}

/* The subscriber of topic t with the fewest partitions (MemberInfo order
 * among equals). `subscribers[t]` lists them in that order. */
static size_t least_loaded(const sticky *s, const size_t *list, size_t n)
{
    size_t best = list[0];
    for (size_t k = 1; k < n; k++)
        if (s->count[list[k]] < s->count[best])
            best = list[k];
    return best;
}

/* One sweep of moves from a member to a subscriber with at least two fewer
 * partitions; `newly_only`: only partitions the member did not own before. */
static bool balance_sweep(sticky *s, size_t **subscribers, const size_t *n_subscribers, bool newly_only)
{
    bool moved = false;
    for (size_t g = 0; g < s->P; g++) {
        int32_t a = s->assigned[g];
        if (a < 0 || (newly_only && s->owner[g] == a))
            continue;
        size_t t = assignor_ctx_topic_of(&s->c, g);
        size_t b = least_loaded(s, subscribers[t], n_subscribers[t]);
        if (s->count[b] + 2 <= s->count[a]) {
            s->count[a]--;
            give(s, g, b);
            moved = true;
        }
    }
    return moved;
}

static gregor_err assign_general(sticky *s)
{
    const assignor_ctx *c = &s->c;
    gregor_err err = GREGOR_ERR_NOMEM;
    size_t T = c->n_topics;
    size_t **subscribers = calloc(T ? T : 1, sizeof *subscribers);
    size_t *n_subscribers = calloc(T ? T : 1, sizeof *n_subscribers);
    free_ref *frees = malloc((s->P ? s->P : 1) * sizeof *frees);
    if (!subscribers || !n_subscribers || !frees)
        goto out;
    for (size_t k = 0; k < c->n_members; k++)
        for (size_t j = 0; j < c->n_subs[c->order[k]]; j++)
            n_subscribers[c->subs[c->order[k]][j]]++;
    for (size_t t = 0; t < T; t++) {
        subscribers[t] = malloc((n_subscribers[t] ? n_subscribers[t] : 1) * sizeof **subscribers);
        if (!subscribers[t])
            goto out;
        n_subscribers[t] = 0;
    }
    for (size_t k = 0; k < c->n_members; k++) {
        size_t i = c->order[k];
        for (size_t j = 0; j < c->n_subs[i]; j++) {
            size_t t = c->subs[i][j];
            subscribers[t][n_subscribers[t]++] = i;
        }
    }

    size_t n_free = 0;
    for (size_t g = 0; g < s->P; g++) {
        size_t t = assignor_ctx_topic_of(c, g);
        if (n_subscribers[t] == 0)
            continue; /* nobody wants it */
        if (s->owner[g] >= 0)
            give(s, g, (size_t)s->owner[g]);
        else
            frees[n_free++] = (free_ref){n_subscribers[t], g};
    }
    qsort(frees, n_free, sizeof *frees, free_ref_cmp);
    for (size_t k = 0; k < n_free; k++) {
        size_t t = assignor_ctx_topic_of(c, frees[k].g);
        give(s, frees[k].g, least_loaded(s, subscribers[t], n_subscribers[t]));
    }
    for (;;) {
        bool moved = balance_sweep(s, subscribers, n_subscribers, true);
        if (!moved)
            moved = balance_sweep(s, subscribers, n_subscribers, false);
        if (!moved)
            break;
    }
    err = GREGOR_OK;
out:
    if (subscribers)
        for (size_t t = 0; t < T; t++)
            free(subscribers[t]);
    free(subscribers);
    free(n_subscribers);
    free(frees);
    return err;
}

/* ---- the assignor ---- */

static bool subscriptions_equal(const assignor_ctx *c)
{
    for (size_t i = 1; i < c->n_members; i++)
        if (c->n_subs[i] != c->n_subs[0] || memcmp(c->subs[i], c->subs[0], c->n_subs[0] * sizeof *c->subs[0]) != 0)
            return false;
    return true;
}

/* Step 3: a partition another member still claims waits for its revocation,
 * unless it stays with its valid owner. */
static bool withheld(const sticky *s, size_t g)
{
    int32_t x = s->assigned[g];
    if (s->owner[g] == x)
        return false;
    return s->nclaim[g] > 1 || (s->nclaim[g] == 1 && s->claimer[g] != x);
}

static gregor_err sticky_assign(const assignor_member *members, size_t n_members, const assignor_topic *topics,
                                size_t n_topics, group_tp_list *out)
{
    sticky s;
    gregor_err err = sticky_init(&s, members, n_members, topics, n_topics);
    if (err != GREGOR_OK || n_members == 0)
        goto out;
    sticky_claims(&s);
    err = subscriptions_equal(&s.c) ? assign_constrained(&s) : assign_general(&s);
    for (size_t g = 0; g < s.P && err == GREGOR_OK; g++)
        if (s.assigned[g] >= 0 && !withheld(&s, g))
            err = assignor_ctx_emit(&s.c, g, &out[s.assigned[g]]);
out:
    sticky_fini(&s);
    return err;
}

/* Java's CooperativeStickyAssignor user data (schema V0): the generation of
 * the member's owned partitions as one big-endian int32. Java members of
 * Subscription v2+ also send it as a field; older ones only here. */
static gregor_err sticky_user_data(int32_t generation, uint8_t **out, size_t *len)
{
    uint8_t *b = malloc(4);
    if (!b)
        return GREGOR_ERR_NOMEM;
    uint32_t v = (uint32_t)generation;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
    *out = b;
    *len = 4;
    return GREGOR_OK;
}

const group_assignor group_assignor_cooperative_sticky = {
    .name = "cooperative-sticky",
    .cooperative = true,
    .assign = sticky_assign,
    .user_data = sticky_user_data,
};
