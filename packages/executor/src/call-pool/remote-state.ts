/**
 * The worker side of a job's state: every StateManagerInterface operation is a request to
 * the main thread, which applies it to the job's snapshot state. The VM awaits each one, so
 * they arrive in order; the main thread holds the only copy of the job's writes.
 */
import type { AccountFields, StateManagerInterface } from "@ethereumjs/common";
import { Account, type Address } from "@ethereumjs/util";
import type { StateOp, StateValue, WireAccount, WireAccountFields } from "./protocol.ts";

export type StateRequester = (req: StateOp) => Promise<StateValue>;

export function toWireAccount(a: Account | undefined): WireAccount {
  return a ? [a.nonce, a.balance, a.storageRoot, a.codeHash] : null;
}

export function fromWireAccount(w: WireAccount): Account | undefined {
  return w ? new Account(w[0], w[1], w[2], w[3]) : undefined;
}

export class RemoteStateManager implements StateManagerInterface {
  private readonly request: StateRequester;

  constructor(request: StateRequester) {
    this.request = request;
  }

  readonly originalStorageCache = {
    get: async (address: Address, key: Uint8Array): Promise<Uint8Array> =>
      (await this.request({ op: "originalStorage", address: address.bytes, key })) as Uint8Array,
    clear: (): void => {
      void this.request({ op: "clearOriginalStorage" });
    },
  };

  async getAccount(address: Address): Promise<Account | undefined> {
    return fromWireAccount((await this.request({ op: "getAccount", address: address.bytes })) as WireAccount);
  }
  async putAccount(address: Address, account?: Account): Promise<void> {
    await this.request({ op: "putAccount", address: address.bytes, account: toWireAccount(account) });
  }
  async deleteAccount(address: Address): Promise<void> {
    await this.request({ op: "deleteAccount", address: address.bytes });
  }
  async modifyAccountFields(address: Address, fields: AccountFields): Promise<void> {
    const wire: WireAccountFields = {};
    if (fields.nonce !== undefined) wire.nonce = fields.nonce;
    if (fields.balance !== undefined) wire.balance = fields.balance;
    if (fields.storageRoot !== undefined) wire.storageRoot = fields.storageRoot;
    if (fields.codeHash !== undefined) wire.codeHash = fields.codeHash;
    await this.request({ op: "modifyAccountFields", address: address.bytes, fields: wire });
  }
  async putCode(address: Address, code: Uint8Array): Promise<void> {
    await this.request({ op: "putCode", address: address.bytes, code });
  }
  async getCode(address: Address): Promise<Uint8Array> {
    return (await this.request({ op: "getCode", address: address.bytes })) as Uint8Array;
  }
  async getCodeSize(address: Address): Promise<number> {
    return (await this.request({ op: "getCodeSize", address: address.bytes })) as number;
  }
  async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    return (await this.request({ op: "getStorage", address: address.bytes, key })) as Uint8Array;
  }
  async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.request({ op: "putStorage", address: address.bytes, key, value });
  }
  async clearStorage(address: Address): Promise<void> {
    await this.request({ op: "clearStorage", address: address.bytes });
  }
  async checkpoint(): Promise<void> {
    await this.request({ op: "checkpoint" });
  }
  async commit(): Promise<void> {
    await this.request({ op: "commit" });
  }
  async revert(): Promise<void> {
    await this.request({ op: "revert" });
  }
  async getStateRoot(): Promise<Uint8Array> {
    return (await this.request({ op: "getStateRoot" })) as Uint8Array;
  }
  async setStateRoot(): Promise<void> {
    throw new Error("setStateRoot is not available to RPC execution");
  }
  async hasStateRoot(): Promise<boolean> {
    return false;
  }
  clearCaches(): void {}
  shallowCopy(): StateManagerInterface {
    return this;
  }
}
