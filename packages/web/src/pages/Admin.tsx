// Placeholder: the real page is being built.
export default function AdminPage() {
  return <h1>Admin</h1>;
}
