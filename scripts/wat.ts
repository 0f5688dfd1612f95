/** Assembling the project's WebAssembly text with wabt (a devDependency: only the build needs it). */
import wabtInit from 'wabt'

export const GEAR_WAT_PATH: URL = new URL('../src/chunkstore/gear.wat', import.meta.url)

export async function assembleGearWat(source: string): Promise<Uint8Array> {
  const wabt = await wabtInit()
  const module = wabt.parseWat('gear.wat', source)
  try {
    module.validate()
    return Uint8Array.from(module.toBinary({}).buffer)
  } finally {
    module.destroy()
  }
}
