export const RUNTIMES: string[];
/** esbuild plugin writing the runtimes' versions (as installed where the bundle is built) into the bundle. */
export function assayRunnerSdk(options?: { runtimes?: string[]; resolveDir?: string }): {
  name: string;
  setup(build: any): void;
};
