/* cf_pool.c: a fixed set of equal-size blocks allocated once, and a bounded
 * worker queue. Neither grows after creation: when the pool is empty or the
 * queue is full the caller is told so and must back off (pause reading).
 *
 * Invariant (pool): every block is either on the free list or owned by
 * exactly one caller; free_count + outstanding == count.
 * Invariant (queue): queued <= max_queued; a job is on the queue or owned by
 * exactly one worker, never both. */
#include "cf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cf_pool {
    pthread_mutex_t lock;  /* guards free_list, free_count */
    size_t block_size;     /* bytes per block */
    size_t count;          /* blocks in all */
    void **free_list;      /* stack of free blocks, count slots */
    size_t free_count;     /* blocks on free_list */
    char *mem;             /* one allocation holding every block */
};

struct cf_pool *cf_pool_new(size_t block_size, size_t count)
{
    struct cf_pool *pool = calloc(1, sizeof(*pool));
    size_t i;

    if (pool == NULL) return NULL;
    pool->block_size = block_size;
    pool->count = count;
    pool->free_list = calloc(count, sizeof(void *));
    /* 64-byte alignment for SIMD erasure coding and hashing. */
    if (pool->free_list == NULL ||
        posix_memalign((void **)&pool->mem, 64, block_size * count) != 0) {
        free(pool->free_list);
        free(pool);
        return NULL;
    }
    for (i = 0; i < count; i++) pool->free_list[i] = pool->mem + i * block_size;
    pool->free_count = count;
    pthread_mutex_init(&pool->lock, NULL);
    return pool;
}

void cf_pool_free(struct cf_pool *pool)
{
    if (pool == NULL) return;
    cf_check(pool->free_count == pool->count);
    pthread_mutex_destroy(&pool->lock);
    free(pool->free_list);
    free(pool->mem);
    free(pool);
}

void *cf_pool_get(struct cf_pool *pool)
{
    void *b = NULL;

    pthread_mutex_lock(&pool->lock);
    if (pool->free_count > 0) b = pool->free_list[--pool->free_count];
    pthread_mutex_unlock(&pool->lock);
    return b;
}

void cf_pool_put(struct cf_pool *pool, void *block)
{
    if (block == NULL) return;
    pthread_mutex_lock(&pool->lock);
    cf_check(pool->free_count < pool->count);
    pool->free_list[pool->free_count++] = block;
    pthread_mutex_unlock(&pool->lock);
}

size_t cf_pool_block_size(const struct cf_pool *pool)
{
    return pool->block_size;
}

size_t cf_pool_available(struct cf_pool *pool)
{
    size_t n;
    pthread_mutex_lock(&pool->lock);
    n = pool->free_count;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

/* ---- worker queue ---- */

struct cf_workq {
    pthread_mutex_t lock;   /* guards head, tail, queued, stopping */
    pthread_cond_t cond;    /* signalled when a job is queued or on stop */
    struct cf_job *head;    /* FIFO of waiting jobs */
    struct cf_job *tail;
    size_t queued;          /* jobs on the FIFO */
    size_t max_queued;      /* bound on queued */
    int stopping;           /* set by cf_workq_free */
    int nthreads;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    struct cf_workq *q = arg;

    for (;;) {
        struct cf_job *job;

        pthread_mutex_lock(&q->lock);
        while (q->head == NULL && !q->stopping)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->head == NULL) {
            pthread_mutex_unlock(&q->lock);
            return NULL;
        }
        job = q->head;
        q->head = job->next;
        if (q->head == NULL) q->tail = NULL;
        q->queued--;
        pthread_mutex_unlock(&q->lock);

        job->next = NULL;
        job->work(job);
        if (job->complete) job->complete(job);
    }
}

struct cf_workq *cf_workq_new(int threads, size_t max_queued)
{
    struct cf_workq *q = calloc(1, sizeof(*q));
    int i;

    if (q == NULL) return NULL;
    q->threads = calloc((size_t)threads, sizeof(pthread_t));
    if (q->threads == NULL) {
        free(q);
        return NULL;
    }
    q->max_queued = max_queued;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    for (i = 0; i < threads; i++) {
        if (pthread_create(&q->threads[i], NULL, worker_main, q) != 0) break;
        q->nthreads++;
    }
    if (q->nthreads == 0) {
        cf_workq_free(q);
        return NULL;
    }
    return q;
}

int cf_workq_post(struct cf_workq *q, struct cf_job *job)
{
    pthread_mutex_lock(&q->lock);
    if (q->queued >= q->max_queued || q->stopping) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    job->next = NULL;
    if (q->tail) q->tail->next = job;
    else q->head = job;
    q->tail = job;
    q->queued++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void cf_workq_free(struct cf_workq *q)
{
    int i;

    if (q == NULL) return;
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    for (i = 0; i < q->nthreads; i++) pthread_join(q->threads[i], NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    free(q->threads);
    free(q);
}
