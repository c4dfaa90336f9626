/** CPU facts used for defaults: the number of physical cores (the default thread count). */
import { availableParallelism } from 'node:os';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Physical cores (SMT siblings counted once) from Linux sysfs; logical CPUs elsewhere. */
export function physicalCores(sysfs = '/sys/devices/system/cpu'): number {
  try {
    if (!existsSync(sysfs)) return availableParallelism();
    const cores = new Set<string>();
    for (const d of readdirSync(sysfs)) {
      if (!/^cpu\d+$/.test(d)) continue;
      const topo = `${sysfs}/${d}/topology`;
      if (!existsSync(`${topo}/core_id`)) continue;
      const pkg = readFileSync(`${topo}/physical_package_id`, 'utf8').trim();
      cores.add(`${pkg}:${readFileSync(`${topo}/core_id`, 'utf8').trim()}`);
    }
    return Math.max(1, Math.min(cores.size || availableParallelism(), availableParallelism()));
  } catch {
    return availableParallelism();
  }
}
