"""The moving bodies' depth, ray traced tile by tile: the per-step pass of a static depth camera on a CPU.

:class:`~dexgrasp_env.sim.warp_backend.LayeredRenderer` traces the static scene of a world-mounted camera once and
the moving bodies (arm, hand, object) every step. ``mujoco_warp.render`` walks, for every pixel, a bounding-volume
hierarchy of every world's geoms; on Warp's CPU device that walk is most of a ray's cost. Why tiles: a 32x32 depth
image of the workspace shows 38 moving primitives, but an 8x8 tile of it lies near about six of them, and a pixel's
ray meets about one. Measured on 2026-12-07 (64 worlds in the states of the shipped ``depth-scratch`` policy, its
32x32 camera, one thread, CPU time): 217 us per world for ``mujoco_warp.render`` of the moving geoms, 98 us for
this tracer; 8x8 tiles as fast as 4x4, 16x16 a third slower.

:class:`TiledDepthTracer` does the same work in two kernels:

1. per world and tile of :data:`TILE` x :data:`TILE` pixels: the moving geoms whose bounding sphere
   (``geom_rbound``, widened) meets the cone around the tile's rays, in geom order;
2. per world and pixel: its ray against its tile's geoms alone, with mujoco_warp's own ray-primitive functions,
   its back-face culling, its rule for ties (the higher geom index wins within the relative tolerance), its far
   plane and its planar depth (distance times the cosine to the optical axis), written into the render context's
   depth buffer.

So the depth images are mujoco_warp's (``tests/envs/test_depth.py`` compares them bit for bit with one full
render), for primitive geoms (sphere, capsule, ellipsoid, cylinder, box) and depth cameras only: meshes and
colour cameras keep ``mujoco_warp.render`` (:meth:`TiledDepthTracer.supports`).
"""

from __future__ import annotations

import mujoco
import numpy as np
import torch
import warp as wp
from mujoco_warp._src.ray import RAY_TOL_ABS, RAY_TOL_REL, ray_geom
from mujoco_warp._src.types import MJ_MAXVAL

TILE = 8
"""Pixels per side of a tile: at 32x32, 16 tiles of about six candidate geoms each."""
PRIMITIVES = tuple(int(t) for t in (mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_CAPSULE,
                                   mujoco.mjtGeom.mjGEOM_ELLIPSOID, mujoco.mjtGeom.mjGEOM_CYLINDER,
                                   mujoco.mjtGeom.mjGEOM_BOX))
"""Geom types the tracer handles: bounded by ``geom_rbound`` around ``geom_xpos``, hit by ``ray_geom``."""


@wp.kernel(module="unique", enable_backward=False)
def _tile_candidates(
    geom_rbound: wp.array2d[float], geom_xpos: wp.array2d[wp.vec3], cam_xpos: wp.array2d[wp.vec3],
    cam_xmat: wp.array2d[wp.mat33], camid: int, tile_axis: wp.array[wp.vec3], tile_cos: wp.array[float],
    tile_sin: wp.array[float], geoms: wp.array[int], candidates: wp.array3d[int], spheres: wp.array3d[wp.vec4],
    count: wp.array2d[int],
):
    """Per (world, tile): the geoms whose bounding sphere meets the tile's cone, in geom order, each with its
    sphere (centre relative to the camera, radius) for the pixels' own test."""
    w, tile = wp.tid()
    origin = cam_xpos[w, camid]
    axis = cam_xmat[w, camid] @ tile_axis[tile]
    cos_a, sin_a = tile_cos[tile], tile_sin[tile]
    n = int(0)
    for k in range(geoms.shape[0]):
        g = geoms[k]
        r = geom_rbound[w % geom_rbound.shape[0], g] * 1.001 + 1.0e-5  # widened: float error never culls a hit
        to_geom = geom_xpos[w, g] - origin
        dist2 = wp.dot(to_geom, to_geom)
        keep = dist2 <= r * r  # the camera inside the sphere
        if not keep:
            dist = wp.sqrt(dist2)
            sin_b = r / dist  # the sphere's angular radius beta, seen from the camera
            cos_b = wp.sqrt(wp.max(1.0 - sin_b * sin_b, 0.0))
            # the sphere meets the cone of half-angle alpha when the angle between the axis and the centre is at
            # most alpha + beta (every direction, when alpha + beta passes 180 degrees: sin(alpha + beta) < 0)
            keep = (sin_a * cos_b + cos_a * sin_b < 0.0) or (
                wp.dot(to_geom, axis) / dist >= cos_a * cos_b - sin_a * sin_b - 1.0e-4)
        if keep:
            candidates[w, tile, n] = g
            spheres[w, tile, n] = wp.vec4(to_geom[0], to_geom[1], to_geom[2], r)
            n += 1
    count[w, tile] = n


@wp.kernel(module="unique", enable_backward=False)
def _trace_tiles(
    geom_type: wp.array[int], geom_size: wp.array2d[wp.vec3], geom_rgba: wp.array2d[wp.vec4],
    geom_matid: wp.array2d[int], mat_rgba: wp.array2d[wp.vec4],
    geom_xpos: wp.array2d[wp.vec3], geom_xmat: wp.array2d[wp.mat33], cam_xpos: wp.array2d[wp.vec3],
    cam_xmat: wp.array2d[wp.mat33], camid: int, rays: wp.array[wp.vec3], ray_adr: int, width: int, tiles_x: int,
    candidates: wp.array3d[int], spheres: wp.array3d[wp.vec4], count: wp.array2d[int], zfar: float,
    cull_backfaces: bool, depth_out: wp.array2d[float], depth_adr: int,
):
    """Per (world, pixel): the planar depth of the nearest candidate hit, 0 for none (``mujoco_warp.render``'s)."""
    w, pixel = wp.tid()
    tile = (pixel // width // TILE) * tiles_x + (pixel % width) // TILE
    local = rays[ray_adr + pixel]
    origin = cam_xpos[w, camid]
    direction = cam_xmat[w, camid] @ local
    dist = float(MJ_MAXVAL)
    if zfar > 0.0:
        dist = zfar / wp.max(-local[2], 1.0e-6)
    hit = int(-1)
    for j in range(count[w, tile]):
        sphere = spheres[w, tile, j]
        to_geom = wp.vec3(sphere[0], sphere[1], sphere[2])
        r = sphere[3]
        along = wp.dot(to_geom, direction)
        # the ray misses the bounding sphere, or meets it only behind the camera or behind the nearest hit
        if along + r < 0.0 or along - r > dist * (1.0 + RAY_TOL_REL) + RAY_TOL_ABS:
            continue
        if wp.dot(to_geom, to_geom) - along * along > r * r:
            continue
        g = candidates[w, tile, j]
        rgba = geom_rgba[w % geom_rgba.shape[0], g]
        mat = geom_matid[w % geom_matid.shape[0], g]
        if mat >= 0 and rgba[0] == 0.5 and rgba[1] == 0.5 and rgba[2] == 0.5 and rgba[3] == 1.0:
            rgba = mat_rgba[w % mat_rgba.shape[0], mat]  # mujoco_warp's (private) _geom_rgba: the material's colour
        if rgba[3] == 0.0:  # invisible geoms are not drawn
            continue
        d, normal = ray_geom(geom_xpos[w, g], geom_xmat[w, g], geom_size[w % geom_size.shape[0], g], origin,
                             direction, geom_type[g])
        if cull_backfaces and d >= 0.0 and wp.dot(direction, normal) > 0.0:
            d = -1.0
        tol = RAY_TOL_REL * wp.max(dist, 1.0)
        if d >= 0.0 and ((d < dist - tol) or (wp.abs(d - dist) <= tol and (hit < 0 or g > hit))):
            dist = d
            hit = g
    if zfar > 0.0 and hit != -1 and dist * -local[2] > zfar:
        hit = -1
    depth = float(0.0)
    if hit != -1:
        depth = dist * -local[2]
    depth_out[w, depth_adr + pixel] = depth


class TiledDepthTracer:
    """The depth images of a :class:`~dexgrasp_env.sim.warp_backend.BatchRenderer` of depth cameras, traced on
    tiles (see the module docstring) into that renderer's buffers: its ``views`` and ``depths`` show them.

    Args:
        rig: The renderer whose context (cameras, rays, enabled geoms, depth buffer) this traces for.
    """

    def __init__(self, rig) -> None:
        batch, rc = rig.batch, rig.rc
        m = batch.mjm
        self.rig, self.batch = rig, batch
        dev = batch.wp_device
        self._geoms = rc.enabled_geom_ids  # the geoms of the groups the context draws
        ngeom = self._geoms.shape[0]
        self._zfar, self._cull = float(rc.zfar), bool(rc.enable_backface_culling)  # as mujoco_warp.render
        rays = wp.to_torch(rc.ray).cpu().double()
        d_adr = rc.depth_adr.numpy()
        self._cams = []
        offset = 0
        for i, (cam, (w, h)) in enumerate(zip(rig.cameras, rig.resolution)):
            local = rays[offset : offset + w * h].view(h, w, 3)
            axis, cos_a, sin_a = tile_cones(local)
            tiles_x = -(-w // TILE)
            self._cams.append(dict(
                camid=m.camera(cam).id, ray_adr=offset, width=w, tiles_x=tiles_x, npix=w * h, depth_adr=int(d_adr[i]),
                axis=wp.array(axis, dtype=wp.vec3, device=dev), cos=wp.array(cos_a, dtype=float, device=dev),
                sin=wp.array(sin_a, dtype=float, device=dev),
                candidates=wp.zeros((batch.num_worlds, len(axis), ngeom), dtype=int, device=dev),
                spheres=wp.zeros((batch.num_worlds, len(axis), ngeom), dtype=wp.vec4, device=dev),
                count=wp.zeros((batch.num_worlds, len(axis)), dtype=int, device=dev)))
            offset += w * h

    @staticmethod
    def supports(mjm: mujoco.MjModel, cameras: tuple[str, ...], depth_keys: tuple[str, ...],
                 groups: tuple[int, ...]) -> bool:
        """Whether the tracer gives these cameras' images: perspective depth cameras only (its rays start at the
        camera), every drawn geom a primitive."""
        drawn = np.isin(mjm.geom_group, groups)
        perspective = all(mjm.cam_projection[mjm.camera(c).id] == mujoco.mjtProjection.mjPROJ_PERSPECTIVE
                          for c in cameras)
        return (all(c in depth_keys for c in cameras) and perspective and mjm.nflex == 0 and bool(drawn.any())
                and bool(np.isin(mjm.geom_type[drawn], PRIMITIVES).all()))

    def launch(self) -> None:
        """Trace every camera's depth from the batch's current geom and camera frames (Warp launches only)."""
        b, rc = self.batch, self.rig.rc
        m, d = b.model, b.data
        with b.scoped():
            for c in self._cams:
                ntiles = c["count"].shape[1]
                wp.launch(_tile_candidates, dim=(b.num_worlds, ntiles), device=b.wp_device, inputs=[
                    m.geom_rbound, d.geom_xpos, d.cam_xpos, d.cam_xmat, c["camid"], c["axis"], c["cos"], c["sin"],
                    self._geoms, c["candidates"], c["spheres"], c["count"]])
                wp.launch(_trace_tiles, dim=(b.num_worlds, c["npix"]), device=b.wp_device, inputs=[
                    m.geom_type, m.geom_size, m.geom_rgba, m.geom_matid, m.mat_rgba, d.geom_xpos,
                    d.geom_xmat, d.cam_xpos, d.cam_xmat, c["camid"], rc.ray, c["ray_adr"], c["width"], c["tiles_x"],
                    c["candidates"], c["spheres"], c["count"], self._zfar, self._cull, rc.depth_data, c["depth_adr"]])
        self.rig.launched = True


def tile_cones(local: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each tile's cone around its rays: the unit axis (camera frame), and the cosine and sine of the largest angle
    between the axis and a ray of the tile (slightly widened). ``local``: ``(H, W, 3)`` the camera-frame rays."""
    h, w, _ = local.shape
    axes, cos_a, sin_a = [], [], []
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            rays = local[y : y + TILE, x : x + TILE].reshape(-1, 3)
            rays = rays / rays.norm(dim=1, keepdim=True)
            axis = rays.mean(0)
            axis = axis / axis.norm()
            angle = float(torch.acos((rays @ axis).clamp(-1.0, 1.0)).max()) + 1.0e-4
            axes.append(axis.numpy())
            cos_a.append(np.cos(angle))
            sin_a.append(np.sin(angle))
    return (np.asarray(axes, np.float32), np.asarray(cos_a, np.float32), np.asarray(sin_a, np.float32))
