/**
 * The node package is loaded lazily: `--help`, `version` and `status` stay
 * fast and keep working while the node itself cannot load.
 */
export type NodeApi = typeof import("@meridian/node");

let api: Promise<NodeApi> | undefined;

export function loadNodeApi(): Promise<NodeApi> {
  api ??= import("@meridian/node");
  return api;
}
