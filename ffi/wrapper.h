/* Headers bindgen reads. Only what espgate calls is allowlisted in build.rs. */
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ring.h>
#include <rte_eth_ring.h>
#include <rte_thread.h>
#include <rte_cryptodev.h>
#include <rte_crypto.h>
#include "shim.h"
#include "shim_crypto.h"
