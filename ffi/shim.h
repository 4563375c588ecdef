/* Exported wrappers for DPDK's static inline functions and thread-local variables, which bindgen cannot bind. */
#ifndef ESPGATE_SHIM_H
#define ESPGATE_SHIM_H
#include <stdint.h>
struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

uint16_t espgate_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t espgate_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

struct rte_mbuf *espgate_pktmbuf_alloc(struct rte_mempool *mp);
int espgate_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int count);
void espgate_pktmbuf_free(struct rte_mbuf *m);
void espgate_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int count);
char *espgate_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *espgate_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *espgate_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int espgate_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
uint16_t espgate_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t espgate_pktmbuf_tailroom(const struct rte_mbuf *m);
void *espgate_pktmbuf_mtod(struct rte_mbuf *m);
int espgate_pktmbuf_is_contiguous(const struct rte_mbuf *m);
int espgate_pktmbuf_linearize(struct rte_mbuf *m);
void espgate_pktmbuf_reset(struct rte_mbuf *m);

unsigned int espgate_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n);
unsigned int espgate_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n);

unsigned int espgate_lcore_id(void);
uint64_t espgate_rdtsc(void);
int espgate_errno(void);
void espgate_pause(void);


/* Flag values DPDK defines with function-like macros (RTE_BIT64), which bindgen does not evaluate. */
extern const uint64_t espgate_rss_ip;
extern const uint64_t espgate_rss_udp;
extern const uint64_t espgate_rss_tcp;
#endif
