/* Cryptodev helpers; see shim_crypto.h. Each function forwards to DPDK or fills a DPDK structure. */
#include <errno.h>
#include <string.h>
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_memory.h>
#include <rte_mbuf.h>
#include <rte_crypto.h>
#include <rte_cryptodev.h>
#include "shim_crypto.h"

#define ESPGATE_IV_OFFSET (sizeof(struct rte_crypto_op) + sizeof(struct rte_crypto_sym_op))

const uint64_t espgate_cryptodev_ff_cpu_crypto = RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO;

uint16_t espgate_crypto_op_iv_offset(void) { return (uint16_t)ESPGATE_IV_OFFSET; }

void *espgate_cryptodev_session_aead(uint8_t dev_id, struct rte_mempool *mp, int encrypt, int algo,
				     const uint8_t *key, uint16_t key_len, uint16_t iv_len, uint16_t digest_len,
				     uint16_t aad_len)
{
	struct rte_cryptodev_sym_capability_idx idx = { .type = RTE_CRYPTO_SYM_XFORM_AEAD };
	const struct rte_cryptodev_symmetric_capability *cap;
	struct rte_crypto_sym_xform x;

	idx.algo.aead = (enum rte_crypto_aead_algorithm)algo;
	cap = rte_cryptodev_sym_capability_get(dev_id, &idx);
	if (cap == NULL || rte_cryptodev_sym_capability_check_aead(cap, key_len, digest_len, aad_len, iv_len) != 0) {
		rte_errno = ENOTSUP;
		return NULL;
	}
	memset(&x, 0, sizeof(x));
	x.type = RTE_CRYPTO_SYM_XFORM_AEAD;
	x.aead.op = encrypt ? RTE_CRYPTO_AEAD_OP_ENCRYPT : RTE_CRYPTO_AEAD_OP_DECRYPT;
	x.aead.algo = (enum rte_crypto_aead_algorithm)algo;
	x.aead.key.data = key;
	x.aead.key.length = key_len;
	x.aead.iv.offset = ESPGATE_IV_OFFSET;
	x.aead.iv.length = iv_len;
	x.aead.digest_length = digest_len;
	x.aead.aad_length = aad_len;
	return rte_cryptodev_sym_session_create(dev_id, &x, mp);
}

void *espgate_cryptodev_session_chain(uint8_t dev_id, struct rte_mempool *mp, int encrypt, int cipher_algo,
				      const uint8_t *ckey, uint16_t ckey_len, uint16_t iv_len, int auth_algo,
				      const uint8_t *akey, uint16_t akey_len, uint16_t digest_len)
{
	struct rte_cryptodev_sym_capability_idx idx;
	const struct rte_cryptodev_symmetric_capability *cap;
	struct rte_crypto_sym_xform c, a, *first;

	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	if (cipher_algo >= 0) {
		idx.type = RTE_CRYPTO_SYM_XFORM_CIPHER;
		idx.algo.cipher = (enum rte_crypto_cipher_algorithm)cipher_algo;
		cap = rte_cryptodev_sym_capability_get(dev_id, &idx);
		if (cap == NULL || rte_cryptodev_sym_capability_check_cipher(cap, ckey_len, iv_len) != 0) {
			rte_errno = ENOTSUP;
			return NULL;
		}
		c.type = RTE_CRYPTO_SYM_XFORM_CIPHER;
		c.cipher.op = encrypt ? RTE_CRYPTO_CIPHER_OP_ENCRYPT : RTE_CRYPTO_CIPHER_OP_DECRYPT;
		c.cipher.algo = (enum rte_crypto_cipher_algorithm)cipher_algo;
		c.cipher.key.data = ckey;
		c.cipher.key.length = ckey_len;
		c.cipher.iv.offset = ESPGATE_IV_OFFSET;
		c.cipher.iv.length = iv_len;
	}
	if (auth_algo >= 0) {
		idx.type = RTE_CRYPTO_SYM_XFORM_AUTH;
		idx.algo.auth = (enum rte_crypto_auth_algorithm)auth_algo;
		cap = rte_cryptodev_sym_capability_get(dev_id, &idx);
		if (cap == NULL || rte_cryptodev_sym_capability_check_auth(cap, akey_len, digest_len, 0) != 0) {
			rte_errno = ENOTSUP;
			return NULL;
		}
		a.type = RTE_CRYPTO_SYM_XFORM_AUTH;
		a.auth.op = RTE_CRYPTO_AUTH_OP_GENERATE;
		a.auth.algo = (enum rte_crypto_auth_algorithm)auth_algo;
		a.auth.key.data = akey;
		a.auth.key.length = akey_len;
		a.auth.digest_length = digest_len;
	}
	if (cipher_algo >= 0 && auth_algo >= 0) {
		/* ESP: encrypt then MAC outbound; MAC (over the ciphertext) then decrypt inbound. */
		if (encrypt) {
			c.next = &a;
			first = &c;
		} else {
			a.next = &c;
			first = &a;
		}
	} else if (cipher_algo >= 0) {
		first = &c;
	} else if (auth_algo >= 0) {
		first = &a;
	} else {
		rte_errno = EINVAL;
		return NULL;
	}
	return rte_cryptodev_sym_session_create(dev_id, first, mp);
}

uint32_t espgate_cpu_crypto_process(uint8_t dev_id, void *sess, uint16_t cipher_head, uint16_t cipher_tail,
				    uint16_t auth_head, uint16_t auth_tail, uint32_t num, void *const *bufs,
				    const uint32_t *lens, void *const *ivs, void *const *aads, void *const *digests,
				    int32_t *status)
{
	struct rte_crypto_vec vecs[ESPGATE_CPU_CRYPTO_MAX];
	struct rte_crypto_sgl sgl[ESPGATE_CPU_CRYPTO_MAX];
	struct rte_crypto_va_iova_ptr iv[ESPGATE_CPU_CRYPTO_MAX], aad[ESPGATE_CPU_CRYPTO_MAX],
		dg[ESPGATE_CPU_CRYPTO_MAX];
	struct rte_crypto_sym_vec v;
	union rte_crypto_sym_ofs ofs;
	uint32_t i;

	if (num > ESPGATE_CPU_CRYPTO_MAX) {
		for (i = 0; i < num; i++)
			status[i] = EINVAL;
		return 0;
	}
	for (i = 0; i < num; i++) {
		vecs[i].base = bufs[i];
		vecs[i].iova = 0;
		vecs[i].len = lens[i];
		vecs[i].tot_len = lens[i];
		sgl[i].vec = &vecs[i];
		sgl[i].num = 1;
		iv[i].va = ivs[i];
		iv[i].iova = 0;
		aad[i].va = aads[i];
		aad[i].iova = 0;
		dg[i].va = digests[i];
		dg[i].iova = 0;
		status[i] = 0;
	}
	memset(&v, 0, sizeof(v));
	v.num = num;
	v.src_sgl = sgl;
	v.iv = iv;
	v.digest = dg;
	v.aad = aad;
	v.status = status;
	ofs.raw = 0;
	ofs.ofs.cipher.head = cipher_head;
	ofs.ofs.cipher.tail = cipher_tail;
	ofs.ofs.auth.head = auth_head;
	ofs.ofs.auth.tail = auth_tail;
	return rte_cryptodev_sym_cpu_crypto_process(dev_id, sess, ofs, &v);
}

struct rte_mempool *espgate_crypto_op_pool_create(const char *name, unsigned int n, int socket_id)
{
	return rte_crypto_op_pool_create(name, RTE_CRYPTO_OP_TYPE_SYMMETRIC, n, 0, ESPGATE_OP_PRIV_SIZE, socket_id);
}

int espgate_crypto_op_alloc_bulk(struct rte_mempool *mp, struct rte_crypto_op **ops, uint16_t n)
{
	return rte_crypto_op_bulk_alloc(mp, RTE_CRYPTO_OP_TYPE_SYMMETRIC, ops, n) == n ? 0 : -ENOMEM;
}

void espgate_crypto_op_free(struct rte_crypto_op *op) { rte_crypto_op_free(op); }

uint8_t *espgate_crypto_op_priv(struct rte_crypto_op *op)
{ return rte_crypto_op_ctod_offset(op, uint8_t *, ESPGATE_IV_OFFSET); }

uint64_t espgate_crypto_op_priv_iova(struct rte_crypto_op *op)
{ return rte_crypto_op_ctophys_offset(op, ESPGATE_IV_OFFSET); }

uint8_t espgate_crypto_op_status(const struct rte_crypto_op *op) { return op->status; }

static void op_reset(struct rte_crypto_op *op, void *sess, struct rte_mbuf *m)
{
	__rte_crypto_op_reset(op, RTE_CRYPTO_OP_TYPE_SYMMETRIC);
	rte_crypto_op_attach_sym_session(op, sess);
	op->sym->m_src = m;
	op->sym->m_dst = NULL;
}

void espgate_crypto_op_prepare_aead(struct rte_crypto_op *op, void *sess, struct rte_mbuf *m, uint32_t off,
				    uint32_t len, uint8_t *digest, uint64_t digest_iova, uint8_t *aad, uint64_t aad_iova)
{
	op_reset(op, sess, m);
	op->sym->aead.data.offset = off;
	op->sym->aead.data.length = len;
	op->sym->aead.digest.data = digest;
	op->sym->aead.digest.phys_addr = digest_iova;
	op->sym->aead.aad.data = aad;
	op->sym->aead.aad.phys_addr = aad_iova;
}

void espgate_crypto_op_prepare_chain(struct rte_crypto_op *op, void *sess, struct rte_mbuf *m, uint32_t c_off,
				     uint32_t c_len, uint32_t a_off, uint32_t a_len, uint8_t *digest,
				     uint64_t digest_iova)
{
	op_reset(op, sess, m);
	op->sym->cipher.data.offset = c_off;
	op->sym->cipher.data.length = c_len;
	op->sym->auth.data.offset = a_off;
	op->sym->auth.data.length = a_len;
	op->sym->auth.digest.data = digest;
	op->sym->auth.digest.phys_addr = digest_iova;
}

static void carrier_noop_free(void *addr __rte_unused, void *opaque __rte_unused) {}

#define CARRIER_PRIV RTE_ALIGN(sizeof(struct rte_mbuf_ext_shared_info), RTE_MBUF_PRIV_ALIGN)

struct rte_mempool *espgate_crypto_carrier_pool_create(const char *name, unsigned int n, int socket_id)
{
	return rte_pktmbuf_pool_create(name, n, 0, CARRIER_PRIV, 0, socket_id);
}

int espgate_crypto_carrier_attach(struct rte_mbuf *m, void *addr, uint64_t iova, uint16_t len)
{
	struct rte_mbuf_ext_shared_info *shinfo = rte_mbuf_to_priv(m);

	if (!RTE_MBUF_DIRECT(m))
		return -EBUSY;
	shinfo->free_cb = carrier_noop_free;
	shinfo->fcb_opaque = NULL;
	rte_mbuf_ext_refcnt_set(shinfo, 1);
	rte_pktmbuf_attach_extbuf(m, addr, iova, len, shinfo);
	m->data_len = len;
	m->pkt_len = len;
	return 0;
}

void espgate_crypto_carrier_detach(struct rte_mbuf *m)
{
	if (RTE_MBUF_HAS_EXTBUF(m))
		rte_pktmbuf_detach_extbuf(m);
}

uint64_t espgate_virt2iova(const void *addr)
{
	/* rte_mem_virt2iova reads /proc/self/pagemap per call in PA mode: look the address up in EAL's memsegs. Memory
	 * outside DPDK has no IOVA; software devices (aesni_mb) never read it. */
	const struct rte_memseg *ms;

	if (rte_eal_iova_mode() == RTE_IOVA_VA)
		return (uintptr_t)addr;
	ms = rte_mem_virt2memseg(addr, NULL);
	if (ms == NULL || ms->iova == RTE_BAD_IOVA)
		return RTE_BAD_IOVA;
	return ms->iova + ((uintptr_t)addr - (uintptr_t)ms->addr);
}

uint16_t espgate_cryptodev_enqueue_burst(uint8_t dev_id, uint16_t qp, struct rte_crypto_op **ops, uint16_t n)
{ return rte_cryptodev_enqueue_burst(dev_id, qp, ops, n); }
uint16_t espgate_cryptodev_dequeue_burst(uint8_t dev_id, uint16_t qp, struct rte_crypto_op **ops, uint16_t n)
{ return rte_cryptodev_dequeue_burst(dev_id, qp, ops, n); }
