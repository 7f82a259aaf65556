"""Basemaps the app may show. Phones report WGS-84; AMap (and most Chinese basemaps) draw
in GCJ-02, so each source says its datum and the app converts for it. Tianditu draws in
CGCS2000, which matches WGS-84 to within a metre or so."""

from __future__ import annotations

from typing import Any

from server.domain.core import runtime


def tile_sources() -> dict[str, Any]:
    tiles = [{"code": "osm", "name": "OpenStreetMap", "url": runtime.setting("OSM_TILES_URL"),
              "attribution": "© OpenStreetMap contributors", "crs": "wgs84",
              "subdomains": [], "max_zoom": 19}]
    key = runtime.setting("TIANDITU_KEY")
    if key:
        tiles.append({"code": "tianditu", "name": "天地图",
                      "url": "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST="
                             "GetTile&VERSION=1.0.0&LAYER=vec&STYLE=default&TILEMATRIXSET=w"
                             f"&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}",
                      "attribution": "© 天地图", "crs": "wgs84",
                      "subdomains": [str(n) for n in range(8)], "max_zoom": 18})
    tiles.append({"code": "amap", "name": "高德地图", "url": runtime.setting("AMAP_TILES_URL"),
                  "attribution": "© 高德地图", "crs": "gcj02",
                  "subdomains": ["1", "2", "3", "4"], "max_zoom": 18})
    wanted = runtime.setting("MAP_TILES")
    default = wanted if any(t["code"] == wanted for t in tiles) else "osm"
    return {"default": default, "tiles": tiles}
