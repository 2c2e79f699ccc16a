/** What the store keeps of its own: a worker's heartbeat. (The batch's records are batch/records.ts's.) */
/** A live worker process, as its heartbeat describes it. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  /** The batches it serves; undefined = every active batch. */
  batches?: string[];
  runVerify: boolean;
}
