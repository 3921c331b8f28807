/**
 * @ethereumjs's transaction and header constructors copy the Common and call
 * `updateParams(paramsTx)` on the copy for every object they build; each call
 * deep-copies the parameter tables and rebuilds the parameter cache, about
 * 100 µs per transaction and the largest cost of decoding a block. The result
 * depends only on the cache the copy started from and the table applied, so
 * this remembers it and reuses the built cache (caches are read-only once
 * built, so copies can share one).
 */
import type { Common } from "@ethereumjs/common";

type ParamsInternals = { _paramsCache: object; updateParams(params: object): unknown };

/** cache before → table applied → cache after. */
const transitions = new WeakMap<object, Map<object, object>>();

function remember(from: object, params: object, to: object): void {
  let m = transitions.get(from);
  if (!m) {
    m = new Map();
    transitions.set(from, m);
  }
  m.set(params, to);
}

/** Makes `updateParams` with an already-seen table free on `common` and on its copies. */
export function memoizeParamsUpdates(common: Common): Common {
  const c = common as unknown as ParamsInternals;
  const original = c.updateParams;
  c.updateParams = function (this: ParamsInternals, params: object) {
    const from = this._paramsCache;
    const known = transitions.get(from)?.get(params);
    if (known) {
      this._paramsCache = known;
      return this;
    }
    original.call(this, params);
    remember(from, params, this._paramsCache);
    remember(this._paramsCache, params, this._paramsCache);
    return this;
  };
  return common;
}
