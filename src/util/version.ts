/** kdumpkit's version (package.json "version"), shown by --version and recorded in reports. */
export const KDUMPKIT_VERSION = '0.1.0';
