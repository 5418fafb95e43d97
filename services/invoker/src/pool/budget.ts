/**
 * What a node may run at once: the sum of its instances' memorySize within its memory budget, and
 * at most so many processes. Instances and pre-started sandboxes waiting for a function both count;
 * the sandboxes are held apart so they can be given up first.
 */
export class NodeBudget {
  private instanceMb = 0;
  private instanceCount = 0;
  private waitingMb = 0;
  private waitingCount = 0;

  constructor(
    private readonly memoryBudgetMb: number,
    private readonly maxInstances: number,
  ) {}

  /** Whether one more process of `memoryMb` fits now. */
  room(memoryMb: number): boolean {
    return this.instanceMb + this.waitingMb + memoryMb <= this.memoryBudgetMb && this.instanceCount + this.waitingCount < this.maxInstances;
  }

  /** An instance of `memoryMb` starts (its room was checked). */
  addInstance(memoryMb: number): void {
    this.instanceMb += memoryMb;
    this.instanceCount++;
  }

  removeInstance(memoryMb: number): void {
    this.instanceMb -= memoryMb;
    this.instanceCount--;
  }

  /** A pre-started sandbox of `memoryMb` may wait, if it fits; false when it does not. */
  holdWaiting(memoryMb: number): boolean {
    if (!this.room(memoryMb)) return false;
    this.waitingMb += memoryMb;
    this.waitingCount++;
    return true;
  }

  releaseWaiting(memoryMb: number): void {
    this.waitingMb -= memoryMb;
    this.waitingCount--;
  }

  /** Instances (not waiting sandboxes) and their memorySize, summed. */
  get instances(): { count: number; memoryMb: number } {
    return { count: this.instanceCount, memoryMb: this.instanceMb };
  }
}
