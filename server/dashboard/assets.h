// The dashboard's page, compiled into gridd (cmake/embed_assets.py writes
// the definitions from server/dashboard/web/ at build time).
#ifndef GRID_SERVER_DASHBOARD_ASSETS_H_
#define GRID_SERVER_DASHBOARD_ASSETS_H_

#include <string_view>

namespace grid::server {

struct Asset {
  std::string_view path;  // "/app.js"; the page itself is "/index.html"
  std::string_view content_type;
  std::string_view body;
  std::string_view gzip;  // the body gzip-compressed
  std::string_view etag;  // quoted, from the body's SHA-256
};

// nullptr for a path that is not an asset.
const Asset* FindAsset(std::string_view path);

}  // namespace grid::server

#endif  // GRID_SERVER_DASHBOARD_ASSETS_H_
