/* daemon/state/crc32c.h - CRC32C (Castagnoli, the checksum of iSCSI, ext4 and etcd's WAL), which
 *   frames every journal entry and guards every snapshot. Pure function: no state, any thread.
 * Why not zlib: zlib has CRC32 (IEEE) only; CRC32C has better error detection for short records
 * and a CPU instruction (SSE4.2), used when the CPU has it (checked once, at run time).
 */
#ifndef GAAPD_STATE_CRC32C_H
#define GAAPD_STATE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC32C of n bytes at p, continuing crc (0 to start): crc(a+b) = jr_crc32c(crc(a), b). */
uint32_t jr_crc32c(uint32_t crc, const void *p, size_t n);
/* The portable table-driven version alone (tests compare it with the hardware one). */
uint32_t jr_crc32c_sw(uint32_t crc, const void *p, size_t n);

#endif
