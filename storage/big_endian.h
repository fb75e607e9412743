// Big-endian fixed-width integers: the one encoding of numbers in keys (so
// they sort in numeric order) and in the export's length prefixes.
#ifndef GRID_STORAGE_BIG_ENDIAN_H_
#define GRID_STORAGE_BIG_ENDIAN_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace grid::storage {

inline void PutBigEndian64(unsigned char out[8], uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<unsigned char>(v & 0xFF);
}

inline void PutBigEndian64(std::string* dst, uint64_t v) {
  unsigned char buf[8];
  PutBigEndian64(buf, v);
  dst->append(reinterpret_cast<const char*>(buf), 8);
}

// REQUIRES: src.size() >= 8.
inline uint64_t GetBigEndian64(std::string_view src) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(src[i]);
  return v;
}

inline void PutBigEndian32(unsigned char out[4], uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) out[i] = static_cast<unsigned char>(v & 0xFF);
}

inline uint32_t GetBigEndian32(const unsigned char in[4]) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | in[i];
  return v;
}

}  // namespace grid::storage

#endif  // GRID_STORAGE_BIG_ENDIAN_H_
