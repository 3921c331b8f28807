/**
 * Read-only state at any committed block, straight from the Merkle-Patricia
 * trie (nodes are never pruned). Serves historical RPC reads and eth_getProof.
 */
import { MerklePatriciaTrie } from "@ethereumjs/mpt";
import { getMerkleStateProof, MerkleStateManager } from "@ethereumjs/statemanager";
import { type Address, ValueEncoding } from "@ethereumjs/util";
import type { ChainDatabase } from "@meridian/storage";
import { type TrieNodeCache, TrieNodeDB } from "./trie-db.ts";

/** `cache` (optional) keeps committed nodes across readers, e.g. every RPC call of a node. */
export function historicalState(
  db: ChainDatabase,
  stateRoot: Uint8Array,
  cache?: TrieNodeCache,
): MerkleStateManager {
  const trie = new MerklePatriciaTrie({
    db: new TrieNodeDB(db, cache),
    root: stateRoot,
    useKeyHashing: true,
    valueEncoding: ValueEncoding.Bytes,
  });
  return new MerkleStateManager({ trie });
}

export type StateProof = Awaited<ReturnType<typeof getMerkleStateProof>>;

/** EIP-1186 account and storage proof at `stateRoot`. */
export function stateProof(
  db: ChainDatabase,
  stateRoot: Uint8Array,
  address: Address,
  slots: Uint8Array[],
): Promise<StateProof> {
  return getMerkleStateProof(historicalState(db, stateRoot), address, slots);
}
