import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))

/** @type {import('next').NextConfig} */
const nextConfig = {
  // The SDK loads a native addon (.node): Next must require it at run time from node_modules
  // rather than bundle it.
  serverExternalPackages: ['@eka-care/webhook-sdk'],
  // This app lives inside the SDK's repository, which has a lockfile of its own: without these,
  // Next would take the repository as the workspace root.
  turbopack: { root: here },
  outputFileTracingRoot: here,
}

export default nextConfig
