// pidusage 4 ships no types (and @types/pidusage describes v2); this is the part we use.
declare module 'pidusage' {
  export interface Usage {
    /** Percent of one core. */
    cpu: number;
    /** Resident bytes. */
    memory: number;
    pid: number;
    ppid: number;
    ctime: number;
    elapsed: number;
    timestamp: number;
  }
  function pidusage(pids: number[]): Promise<Record<number, Usage>>;
  export default pidusage;
}
