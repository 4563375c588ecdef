/* Cryptodev helpers: DPDK's static inlines for crypto ops and queue pairs, and builders for the structures with
 * anonymous unions (xforms, capability indexes, CPU-crypto vectors), which bindgen names unstably. */
#ifndef ESPGATE_SHIM_CRYPTO_H
#define ESPGATE_SHIM_CRYPTO_H
#include <stdint.h>
struct rte_mbuf;
struct rte_mempool;
struct rte_crypto_op;

/* Layout of each crypto op's private area (after rte_crypto_op + rte_crypto_sym_op): IV | AAD | digest | tag. */
#define ESPGATE_OP_PRIV_IV 0
#define ESPGATE_OP_PRIV_AAD 16
#define ESPGATE_OP_PRIV_DIGEST 32
#define ESPGATE_OP_PRIV_TAG 96
#define ESPGATE_OP_PRIV_SIZE 104
/* Most jobs handed to one CPU-crypto call (one engine burst). */
#define ESPGATE_CPU_CRYPTO_MAX 64

/* Offset of the IV from the start of a crypto op (what the session's iv.offset must be). */
uint16_t espgate_crypto_op_iv_offset(void);

/* Creates an AEAD session after checking the device's capability; NULL with rte_errno set (ENOTSUP when the
 * device lacks the algorithm or sizes). */
void *espgate_cryptodev_session_aead(uint8_t dev_id, struct rte_mempool *mp, int encrypt, int algo,
				     const uint8_t *key, uint16_t key_len, uint16_t iv_len, uint16_t digest_len,
				     uint16_t aad_len);
/* Creates a cipher + auth chain: encrypt then generate (encrypt != 0), or generate then decrypt. The digest is
 * always generated (inbound ICVs are compared by the caller in constant time). auth_algo < 0: cipher only.
 * cipher_algo < 0: auth only. */
void *espgate_cryptodev_session_chain(uint8_t dev_id, struct rte_mempool *mp, int encrypt, int cipher_algo,
				      const uint8_t *ckey, uint16_t ckey_len, uint16_t iv_len, int auth_algo,
				      const uint8_t *akey, uint16_t akey_len, uint16_t digest_len);

/* Synchronous in-place processing of num (<= ESPGATE_CPU_CRYPTO_MAX) flat buffers with one session; status[i] is 0
 * or an errno. Returns the number processed successfully. */
uint32_t espgate_cpu_crypto_process(uint8_t dev_id, void *sess, uint16_t cipher_head, uint16_t cipher_tail,
				    uint16_t auth_head, uint16_t auth_tail, uint32_t num, void *const *bufs,
				    const uint32_t *lens, void *const *ivs, void *const *aads, void *const *digests,
				    int32_t *status);

struct rte_mempool *espgate_crypto_op_pool_create(const char *name, unsigned int n, int socket_id);
int espgate_crypto_op_alloc_bulk(struct rte_mempool *mp, struct rte_crypto_op **ops, uint16_t n);
void espgate_crypto_op_free(struct rte_crypto_op *op);
uint8_t *espgate_crypto_op_priv(struct rte_crypto_op *op);
uint64_t espgate_crypto_op_priv_iova(struct rte_crypto_op *op);
uint8_t espgate_crypto_op_status(const struct rte_crypto_op *op);
/* Resets the op and points it at m (data from m's data start) with the given session. */
void espgate_crypto_op_prepare_aead(struct rte_crypto_op *op, void *sess, struct rte_mbuf *m, uint32_t off,
				    uint32_t len, uint8_t *digest, uint64_t digest_iova, uint8_t *aad, uint64_t aad_iova);
void espgate_crypto_op_prepare_chain(struct rte_crypto_op *op, void *sess, struct rte_mbuf *m, uint32_t c_off,
				     uint32_t c_len, uint32_t a_off, uint32_t a_len, uint8_t *digest,
				     uint64_t digest_iova);

/* Carrier mbufs: no data room of their own; the job's bytes are attached as an external buffer per operation. */
struct rte_mempool *espgate_crypto_carrier_pool_create(const char *name, unsigned int n, int socket_id);
int espgate_crypto_carrier_attach(struct rte_mbuf *m, void *addr, uint64_t iova, uint16_t len);
void espgate_crypto_carrier_detach(struct rte_mbuf *m);
uint64_t espgate_virt2iova(const void *addr);

uint16_t espgate_cryptodev_enqueue_burst(uint8_t dev_id, uint16_t qp, struct rte_crypto_op **ops, uint16_t n);
uint16_t espgate_cryptodev_dequeue_burst(uint8_t dev_id, uint16_t qp, struct rte_crypto_op **ops, uint16_t n);

extern const uint64_t espgate_cryptodev_ff_cpu_crypto;
#endif
