import type { z } from 'zod'

interface Def {
  type: string
  shape?: Record<string, z.ZodType>
  innerType?: z.ZodType
  element?: z.ZodType
  options?: z.ZodType[]
  in?: z.ZodType
  out?: z.ZodType
  valueType?: z.ZodType
  left?: z.ZodType
  right?: z.ZodType
}

/**
 * Every field name a schema knows, at any depth: what an environment
 * override's segment (upper case, no camel humps) is matched against when
 * the file does not name the field itself.
 */
export function fieldNames(schema: z.ZodType, into = new Set<string>()): Set<string> {
  const def = (schema as unknown as { _zod: { def: Def } })._zod.def
  if (def.shape)
    for (const [key, child] of Object.entries(def.shape)) {
      into.add(key)
      fieldNames(child, into)
    }
  for (const child of [
    def.innerType,
    def.element,
    def.in,
    def.out,
    def.valueType,
    def.left,
    def.right,
    ...(def.options ?? []),
  ])
    if (child) fieldNames(child, into)
  return into
}
