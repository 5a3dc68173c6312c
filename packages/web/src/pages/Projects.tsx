// Placeholder: the real page is being built.
export default function ProjectsPage() {
  return <h1>Projects</h1>;
}
