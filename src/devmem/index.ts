/**
 * ZONE_DEVICE memory, migration to and from it, and device-exclusive access.
 * @module
 */
export { migrateDeviceCoherentFolio } from './coherent.ts';
export { makeDeviceExclusive } from './device-exclusive.ts';
export {
  DevPagemap,
  type DevPagemapOps,
  isDeviceCoherentPage,
  isDevicePrivatePage,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  memunmapPages,
  type VmFault,
  zoneDevicePageInit,
} from './memremap.ts';
export {
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  type MigrateVma,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migrateVmaFinalize,
  migrateVmaPages,
  migrateVmaSetup,
} from './migrate-device.ts';
export {
  MIGRATE_PFN_COMPOUND,
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_SHIFT,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  migratePfn,
  migratePfnToPage,
  mpfnClear,
  mpfnFlags,
  mpfnHas,
  mpfnSet,
} from './migrate-pfn.ts';
