/**
 * At most one build or run per notebook at a time.
 */
export class BusyGuard {
  private _busy = new Set<string>();

  /** Claim `key`; false when it is already busy (the caller must not start anything). */
  tryAcquire(key: string): boolean {
    if (this._busy.has(key)) {
      return false;
    }
    this._busy.add(key);
    return true;
  }

  release(key: string): void {
    this._busy.delete(key);
  }

  isBusy(key: string): boolean {
    return this._busy.has(key);
  }
}
