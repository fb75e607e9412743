#!/bin/sh
# Rebuilds vendor/echarts.min.js: a custom ES-module bundle of Apache ECharts
# with only what the dashboard draws (bar, line, pie, gauge, treemap; grid,
# tooltip, legend, title; the canvas renderer). The page never loads code from
# a CDN, so the bundle is kept here, pinned, with its licence and checksums.
#
#   sh build-echarts.sh            fetch the pinned tarballs, check them
#                                  against SHA256SUMS, build, write sums
#   UPDATE_SUMS=1 sh build-echarts.sh   accept new tarball checksums (only
#                                  when changing the pinned versions)
#
# Needs npm (the registry) and esbuild: Debian's /usr/bin/esbuild (apt-get
# install esbuild) or else npm's, pinned below. Writes only into this folder.
set -eu

ECHARTS=6.1.0
ZRENDER=6.1.0   # echarts@6.1.0's exact dependency
TSLIB=2.3.0     # likewise
ESBUILD_NPM=0.17.19

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
# npm pack checks each tarball against the registry's sha512 integrity.
npm pack --silent "echarts@$ECHARTS" "zrender@$ZRENDER" "tslib@$TSLIB" >/dev/null
tarballs="echarts-$ECHARTS.tgz zrender-$ZRENDER.tgz tslib-$TSLIB.tgz"

# The tarballs must be the bytes the bundle was first built from: a
# registry that serves something else under the same version is refused.
if [ -f "$here/SHA256SUMS" ] && [ "${UPDATE_SUMS:-0}" != 1 ]; then
  for t in $tarballs; do
    grep "  $t\$" "$here/SHA256SUMS" > "$t.sum" || { echo "no checksum for $t in SHA256SUMS" >&2; exit 1; }
    sha256sum -c --quiet "$t.sum" || { echo "$t differs from SHA256SUMS" >&2; exit 1; }
  done
fi

for t in $tarballs; do
  name=${t%-*}
  mkdir -p "node_modules/$name"
  tar xzf "$t" -C "node_modules/$name" --strip-components=1
done

cat > entry.js <<'JS'
import { use, init, getInstanceByDom, dispose, version } from 'echarts/core';
import { BarChart, LineChart, PieChart, GaugeChart, TreemapChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent, TitleComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

use([BarChart, LineChart, PieChart, GaugeChart, TreemapChart, GridComponent, TooltipComponent,
     LegendComponent, TitleComponent, CanvasRenderer]);

export { init, getInstanceByDom, dispose, version };
JS

if command -v esbuild >/dev/null 2>&1; then
  esbuild=esbuild
else
  npm install --silent --no-save --no-package-lock "esbuild@$ESBUILD_NPM" >/dev/null
  esbuild=./node_modules/.bin/esbuild
fi
built_with="esbuild $($esbuild --version)"

$esbuild entry.js --bundle --format=esm --minify --target=es2019 \
  --define:process.env.NODE_ENV='"production"' --legal-comments=none \
  --banner:js="/*! Apache ECharts $ECHARTS (zrender $ZRENDER, tslib $TSLIB), custom build: bar line pie gauge treemap; grid tooltip legend title; canvas. Built with $built_with by build-echarts.sh. Apache-2.0: see ECHARTS-LICENSE and ECHARTS-NOTICE; zrender BSD-3-Clause: ZRENDER-LICENSE; tslib 0BSD. */" \
  --outfile=echarts.min.js --log-level=warning

cp node_modules/echarts/LICENSE "$here/ECHARTS-LICENSE"
cp node_modules/echarts/NOTICE "$here/ECHARTS-NOTICE"
cp node_modules/zrender/LICENSE "$here/ZRENDER-LICENSE"
cp echarts.min.js "$here/echarts.min.js"

{
  sha256sum echarts.min.js
  for t in $tarballs; do sha256sum "$t"; done
} > "$here/SHA256SUMS"

size=$(wc -c < echarts.min.js)
gz=$(gzip -9 -c echarts.min.js | wc -c)
echo "echarts.min.js: $size bytes, $gz gzipped; $built_with"
